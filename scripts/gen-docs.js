#!/usr/bin/env node
// Regenerates the list of known failures in docs/diagnosis.md from the diagnosis catalogue (run `npm run build` first).
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

const name = 'docs/diagnosis.md';
const file = path.join(root, name);
const before = fs.readFileSync(file, 'utf8');
const after = withCatalogueSection(before, renderCatalogueMarkdown(catalogue));
if (after === before) {
  console.log(`${name}: the known-failures list is up to date`);
} else {
  fs.writeFileSync(file, after);
  console.log(`${name}: known-failures list written (${catalogue.length} entries)`);
}
