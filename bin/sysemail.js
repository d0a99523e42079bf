#!/usr/bin/env node
import module from 'node:module';

// Node 22+ keeps compiled code between runs; short commands start faster. Older Node lacks it.
module.enableCompileCache?.();

const { main } = await import('../dist/cli/main.js');
process.exitCode = await main(process.argv);
