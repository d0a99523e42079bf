import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { catalogue, DIAGNOSIS_IDS } from '../../src/core/diagnosis/index.js';
import { catalogueSectionOf, renderCatalogueMarkdown, withCatalogueSection } from '../../src/core/diagnosis/docs.js';

const README = path.resolve(import.meta.dirname, '..', '..', 'README.md');

describe('README known failures', () => {
  it('is in step with the catalogue (run `npm run build && npm run docs` after editing it)', () => {
    const section = catalogueSectionOf(fs.readFileSync(README, 'utf8'));
    expect(section, 'README.md has no <!-- catalogue:start --> section: run `npm run docs`').toBeDefined();
    expect(section).toBe(renderCatalogueMarkdown(catalogue));
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
