#!/usr/bin/env node
'use strict';
// CommonJS on purpose: a CommonJS entry starts a few milliseconds sooner than an ES module one, and
// `--version` answers here without loading anything else.
const args = process.argv.slice(2);
if (args.length === 1 && (args[0] === '--version' || args[0] === '-V')) {
  // a reader that went away (`| head -c0`): end as SIGPIPE would, without a stack trace
  process.stdout.on('error', (err) => process.exit(err.code === 'EPIPE' ? 141 : 74));
  const pkg = JSON.parse(require('fs').readFileSync(require('path').join(__dirname, '..', 'package.json'), 'utf8'));
  process.stdout.write(pkg.version + '\n');
} else {
  // Node 22+ keeps compiled code between runs; short commands start faster. Older Node lacks it.
  require('module').enableCompileCache?.();
  import('../dist/cli/main.js').then(
    async ({ main }) => {
      process.exitCode = await main(process.argv);
    },
    (err) => {
      process.stderr.write(`sysemail: cannot load its own code (${err.message}); run \`npm ci\` in its folder to rebuild dist/\n`);
      process.exitCode = 70;
    },
  );
}
