/**
 * Entry point. `--version` answers before anything else is loaded; every other command builds the
 * commander program, whose actions load their modules lazily. All errors end up in reportError.
 */
import fs from 'node:fs';

export function version(): string {
  const pkg = JSON.parse(fs.readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}

export async function main(argv: string[]): Promise<number> {
  const args = argv.slice(2);
  if (args.length === 1 && (args[0] === '--version' || args[0] === '-V')) {
    process.stdout.write(version() + '\n');
    return 0;
  }
  const { run } = await import('./program.js');
  return run(argv);
}
