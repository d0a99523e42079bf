#!/usr/bin/env node
// Regenerates the documents that are made from the code (run `npm run build` first): the list of known
// failures and the sender-domain findings in docs/diagnosis.md from the diagnosis catalogue and
// src/core/domain/findings.ts, and docs/error-codes.md from the list of
// error codes (src/core/error-codes.ts).
import fs from 'node:fs';
import path from 'node:path';

const root = path.resolve(import.meta.dirname, '..');
const dist = path.join(root, 'dist', 'core');
if (!fs.existsSync(path.join(dist, 'diagnosis', 'docs.js')) || !fs.existsSync(path.join(dist, 'error-codes.js'))) {
  console.error('gen-docs: dist/ is missing or old; run `npm run build` first');
  process.exit(1);
}
const { catalogue } = await import(path.join(dist, 'diagnosis', 'index.js'));
const { renderCatalogueMarkdown, withCatalogueSection } = await import(path.join(dist, 'diagnosis', 'docs.js'));
const { ERROR_CODES, renderErrorCodesMarkdown, withErrorCodesSection } = await import(path.join(dist, 'error-codes.js'));
const { senderFindings, renderSenderFindingsMarkdown, withSenderFindingsSection } = await import(path.join(dist, 'domain', 'findings.js'));

/** A document new to the tree starts from this text; the generated section is added to it. */
const ERROR_CODES_INTRO = `# Error codes

With \`--json\`, an error prints \`{"error":{"code":"...","message":"...","exitCode":N}}\` on standard error.
The \`code\` names the failure and stays the same from release to release, so scripts can test it; the
\`message\` (the problem, then what to do) is for people and may be worded better one day. The exit code
comes from the kind of failure (see [exit-codes.md](exit-codes.md)); several codes share one exit code.

This list is generated from \`src/core/error-codes.ts\` by \`npm run docs\`.
`;

function regenerate(name, render, withSection, what, initial = '') {
  const file = path.join(root, name);
  const before = fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : initial;
  const after = withSection(before, render());
  if (after === before) {
    console.log(`${name}: the ${what} is up to date`);
  } else {
    fs.writeFileSync(file, after);
    console.log(`${name}: ${what} written`);
  }
}

regenerate(
  'docs/diagnosis.md',
  () => renderCatalogueMarkdown(catalogue),
  withCatalogueSection,
  `known-failures list (${catalogue.length} entries)`,
);
regenerate(
  'docs/diagnosis.md',
  () => renderSenderFindingsMarkdown(senderFindings),
  withSenderFindingsSection,
  `sender-domain findings (${senderFindings.length} entries)`,
);
regenerate(
  'docs/error-codes.md',
  () => renderErrorCodesMarkdown(ERROR_CODES),
  withErrorCodesSection,
  `error-code list (${Object.keys(ERROR_CODES).length} codes)`,
  ERROR_CODES_INTRO,
);
