#!/usr/bin/env node
// Regenerates the README's list of known failures from the diagnosis catalogue (run `npm run build` first).
import fs from 'node:fs';
import path from 'node:path';

const root = path.resolve(import.meta.dirname, '..');
const dist = path.join(root, 'dist', 'core', 'diagnosis');
if (!fs.existsSync(path.join(dist, 'docs.js'))) {
  console.error('gen-docs: dist/ is missing or old; run `npm run build` first');
  process.exit(1);
}
const { catalogue } = await import(path.join(dist, 'index.js'));
const { renderCatalogueMarkdown, withCatalogueSection } = await import(path.join(dist, 'docs.js'));

const file = path.join(root, 'README.md');
const before = fs.readFileSync(file, 'utf8');
const after = withCatalogueSection(before, renderCatalogueMarkdown(catalogue));
if (after === before) {
  console.log('README.md: the known-failures list is up to date');
} else {
  fs.writeFileSync(file, after);
  console.log(`README.md: known-failures list written (${catalogue.length} entries)`);
}
