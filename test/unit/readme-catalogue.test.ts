import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { catalogue, DIAGNOSIS_IDS } from '../../src/core/diagnosis/index.js';
import { catalogueSectionOf, renderCatalogueMarkdown, withCatalogueSection } from '../../src/core/diagnosis/docs.js';

const ROOT = path.resolve(import.meta.dirname, '..', '..');
/** The guide that carries the generated list of known failures (`npm run docs` writes it). */
const DIAGNOSIS_DOC = path.join(ROOT, 'docs', 'diagnosis.md');

describe('docs/diagnosis.md known failures', () => {
  it('is in step with the catalogue (run `npm run build && npm run docs` after editing it)', () => {
    const section = catalogueSectionOf(fs.readFileSync(DIAGNOSIS_DOC, 'utf8'));
    expect(section, 'docs/diagnosis.md has no <!-- catalogue:start --> section: run `npm run docs`').toBeDefined();
    expect(section).toBe(renderCatalogueMarkdown(catalogue));
  });

  it('is the only copy, linked from the README', () => {
    const readme = fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8');
    expect(catalogueSectionOf(readme), 'README.md still holds a catalogue section').toBeUndefined();
    expect(readme).toContain('docs/diagnosis.md');
  });

  it('lists every id with its fix', () => {
    const text = renderCatalogueMarkdown(catalogue);
    for (const id of DIAGNOSIS_IDS) expect(text).toContain(`#### ${id}`);
    for (const e of catalogue) expect(text).toContain(e.fix);
  });

  it('replaces an existing section in place and appends one when there is none', () => {
    const section = renderCatalogueMarkdown(catalogue);
    const appended = withCatalogueSection('# title\n\ntext\n', section);
    expect(appended).toContain('## Known failures');
    expect(catalogueSectionOf(appended)).toBe(section);
    const edited = appended.replace('#### HOST_NOT_FOUND', '#### STALE');
    const again = withCatalogueSection(edited, section);
    expect(again).toBe(appended);
  });
});
