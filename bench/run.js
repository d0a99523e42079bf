// `npm run bench`: every benchmark section, one after the other, with a summary. Sections live in
// their own files and export run() → [{name, value, unit, target, ok}].
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const SECTIONS = [
  ['start-up', 'startup.js'],
  ['sending a large message', 'send-large.js'],
  ['distributor and history', 'queue.js'],
  ['queue import', 'import.js'],
  ['PostgreSQL', 'postgres.js'],
];

let missed = 0;
for (const [title, file] of SECTIONS) {
  const full = path.join(here, file);
  if (!fs.existsSync(full)) continue;
  console.log(`\n== ${title}`);
  const mod = await import(pathToFileURL(full).href);
  const results = [].concat(await mod.run());
  for (const r of results) {
    if (!r.ok) missed++;
    console.log(`${r.ok ? 'ok  ' : 'MISS'} ${r.name}: ${r.value} ${r.unit ?? ''}${r.target ? ` (target ${r.target})` : ''}`);
  }
}
console.log(missed === 0 ? '\nall targets met' : `\n${missed} target(s) missed`);
process.exitCode = missed === 0 ? 0 : 1;
