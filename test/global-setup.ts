/**
 * Builds dist/ from src/ once before the suite (and again before each rerun in watch mode): the
 * end-to-end tests run the built binary, and a dist/ older than src/ would test yesterday's code.
 * The old dist/ goes first, so a file whose source was deleted or moved cannot linger and be loaded.
 * tsc's incremental mode is not used: it skips emitting an output that was deleted since its last run.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { TestProject } from 'vitest/node';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

function build(): void {
  fs.rmSync(path.join(root, 'dist'), { recursive: true, force: true });
  const tsc = path.join(root, 'node_modules', 'typescript', 'bin', 'tsc');
  const r = spawnSync(process.execPath, [tsc, '-p', 'tsconfig.build.json'], { cwd: root, encoding: 'utf8' });
  if (r.error) throw new Error(`test setup: could not run tsc (${r.error.message}); run \`npm ci\` first`);
  if (r.status !== 0) {
    const out = `${r.stdout}${r.stderr}`.trim();
    throw new Error(
      `test setup: \`tsc -p tsconfig.build.json\` failed (exit ${r.status ?? r.signal}); fix the errors below and run again\n${out}`,
    );
  }
}

export default function setup(project: TestProject): void {
  build();
  project.onTestsRerun(build);
}
