/**
 * Creating the folders sysemail keeps its files in (database, spool, outbox). Not
 * `mkdirSync(dir, {recursive: true})`: on a path under /proc it retries for ever at full CPU, where
 * this walks each missing level once and reports the first refusal.
 */
import path from 'node:path';
import { fs } from '../core/builtins.js';

/**
 * Creates every missing folder of `dir`, top down, each with `mode`. Returns the topmost folder it
 * created (as `mkdirSync` with `recursive` does), so the caller can hand the new folders to their owner.
 * Throws the first fs error.
 */
export function makeFolders(dir: string, mode = 0o700): string | undefined {
  let first: string | undefined;
  const missing: string[] = [];
  for (let d = path.resolve(dir); !fs.existsSync(d); d = path.dirname(d)) {
    missing.unshift(d);
    if (path.dirname(d) === d) break;
  }
  for (const d of missing) {
    try {
      fs.mkdirSync(d, { mode });
      first ??= d;
    } catch (err) {
      // another process made it meanwhile: that is what was wanted
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
  }
  return first;
}
