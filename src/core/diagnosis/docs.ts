/**
 * The README's list of known failures, rendered from the catalogue so the two cannot drift apart:
 * `npm run docs` writes it between the markers, and a unit test fails when it is stale.
 */
import type { CatalogueEntry } from './catalogue.js';

export const CATALOGUE_START = '<!-- catalogue:start -->';
export const CATALOGUE_END = '<!-- catalogue:end -->';

export function renderCatalogueMarkdown(entries: readonly CatalogueEntry[]): string {
  const lines = [
    CATALOGUE_START,
    '<!-- generated from src/core/diagnosis/catalogue.ts by `npm run docs`; edit the catalogue, not this list -->',
    '',
    '| id | failure | retry? |',
    '|---|---|---|',
    ...entries.map((e) => `| [\`${e.id}\`](#${e.id.toLowerCase()}) | ${e.title} | ${e.retryable ? 'may work later' : 'no, fix first'} |`),
    '',
  ];
  for (const e of entries) {
    lines.push(`#### ${e.id}`, '', `**${e.title}.** ${e.explanation}`, '', `**Fix:** ${e.fix}`, '');
  }
  lines.push(CATALOGUE_END);
  return lines.join('\n');
}

/** The README with its catalogue section replaced, or a "Known failures" section appended when it has none. */
export function withCatalogueSection(readme: string, section: string): string {
  const start = readme.indexOf(CATALOGUE_START);
  const end = readme.indexOf(CATALOGUE_END);
  if (start !== -1 && end > start) return readme.slice(0, start) + section + readme.slice(end + CATALOGUE_END.length);
  const intro =
    '## Known failures\n\nEvery failure `sysemail diagnose` recognises, with what to do about it. ' +
    '`sysemail diagnose --error TEXT` finds the entry for an error message.\n\n';
  return `${readme.replace(/\s*$/, '\n')}\n${intro}${section}\n`;
}

/** The section as it stands in a README, or undefined when there is none. */
export function catalogueSectionOf(readme: string): string | undefined {
  const start = readme.indexOf(CATALOGUE_START);
  const end = readme.indexOf(CATALOGUE_END);
  return start !== -1 && end > start ? readme.slice(start, end + CATALOGUE_END.length) : undefined;
}
