import { describe, expect, it } from 'vitest';
import { paramsGetArgs } from '../../src/cli/main.js';
import { commandName } from '../../src/cli/program.js';

describe('the params get fast path', () => {
  it('takes only the plain form with global options anywhere', () => {
    expect(paramsGetArgs(['params', 'get', 'smtp.host'])).toEqual({ key: 'smtp.host', globals: {} });
    expect(paramsGetArgs(['--db', 'x.db', 'params', 'get', 'smtp.port', '--json', '-q'])).toEqual({
      key: 'smtp.port',
      globals: { db: 'x.db', json: true, quiet: true },
    });
    expect(paramsGetArgs(['params', 'get', 'smtp.host', '--no-color', '--config', 'c.yaml', '-v'])?.globals).toEqual({
      color: false,
      config: 'c.yaml',
      verbose: true,
    });
  });

  it('leaves everything else to the full parser', () => {
    for (const args of [
      ['params', 'get'],
      ['params', 'get', 'a', 'b'],
      ['params', 'get', 'smtp.host', '--help'],
      ['params', 'get', 'smtp.host', '--jsn'],
      ['--db=x.db', 'params', 'get', 'smtp.host'],
      ['--db'],
      ['params', 'list'],
      ['send', 'get', 'x'],
    ]) {
      expect(paramsGetArgs(args), args.join(' ')).toBeUndefined();
    }
  });

  it('finds the command a line names, skipping option values', () => {
    expect(commandName(['--db', 'queue', 'params', 'list'])).toBe('params');
    expect(commandName(['--json', 'queue', 'status'])).toBe('queue');
    expect(commandName(['--help'])).toBeUndefined();
  });
});
