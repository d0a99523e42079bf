import type { Command } from 'commander';
import { CliContext, type GlobalOptions } from './context.js';
import { quoted } from '../core/errors.js';
import { EXIT, type Outcome } from './exit-codes.js';

type Handler<A extends unknown[]> = (ctx: CliContext, ...args: A) => Promise<Outcome | void>;

/**
 * The program a command line is parsed by keeps how its command ended: commander discards what an
 * action returns, and the ending belongs to that one parse, not to the process (see run() in program.ts).
 */
export interface CommandEnding {
  outcome?: Outcome;
}

function programOf(cmd: Command): Command & CommandEnding {
  let root = cmd;
  while (root.parent) root = root.parent;
  return root;
}

/**
 * Wraps a command handler: builds the context from the global options, runs the handler, hands its
 * outcome to the program that parsed it and always closes the store. Errors propagate to run().
 */
export function action<A extends unknown[]>(handler: Handler<A>): (...args: unknown[]) => Promise<void> {
  return async (...args: unknown[]) => {
    const cmd = args[args.length - 1] as Command;
    const globals = cmd.optsWithGlobals<GlobalOptions>();
    const ctx = new CliContext(globals);
    try {
      await ctx.init();
      programOf(cmd).outcome = (await handler(ctx, ...(args.slice(0, -1) as A))) ?? 'OK';
    } catch (err) {
      // an SQLite error from any statement: named with the database it happened on
      throw (await ctx.storeFailure(err)) ?? err;
    } finally {
      await ctx.close();
    }
  };
}

/** Commander collects repeatable options through this. */
export function collect(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value];
}

/** Parses a positive integer option, refusing anything else with a usage error (64). */
export function intOption(name: string, min = 0): (value: string) => number {
  return (value: string) => {
    if (!/^\d+$/.test(value) || Number(value) < min) {
      throw new InvalidOptionValue(`${name} must be a whole number ≥ ${min} (got ${quoted(value)})`);
    }
    return Number(value);
  };
}

/**
 * What commander's InvalidArgumentError is, by its code: commander turns it into a usage error. Defined
 * here so that loading this file does not load commander (the `params get` fast path runs without it).
 */
export class InvalidOptionValue extends Error {
  readonly code = 'commander.invalidArgument';
  readonly exitCode = EXIT.USAGE;
}
