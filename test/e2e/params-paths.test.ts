/**
 * Path parameters are stored absolute, so a cron job or a service that runs in another folder finds
 * the file the administrator named.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PARAMS } from '../../src/core/params.js';
import { json, sandbox, type Sandbox } from '../helpers/cli.js';

const PATH_KEYS = PARAMS.filter((p) => p.type.kind === 'path').map((p) => p.key);
let sb: Sandbox;
let work: string;

beforeAll(() => {
  sb = sandbox('sysemail-paths-e2e-');
  work = path.join(sb.dir, 'work');
  fs.mkdirSync(work);
});
afterAll(() => sb.cleanup());

function stored(key: string, cwd = sb.dir): Promise<unknown> {
  return sb.run(['params', 'get', key, '--json'], { cwd }).then((r) => {
    expect(r.exitCode, r.stderr).toBe(0);
    return json(r.stdout).value;
  });
}

describe('path parameters', () => {
  it('covers every path key: smtp.passwordFile, smtp.caFile, eml.outputDir, queue.spoolDir and the client secret files', () => {
    expect(PATH_KEYS).toEqual(
      expect.arrayContaining([
        'smtp.passwordFile',
        'smtp.caFile',
        'eml.outputDir',
        'queue.spoolDir',
        'smtp.oauth.clientSecretFile',
        'exchange.clientSecretFile',
      ]),
    );
  });

  it('params set resolves each against the folder where it ran and expands ~/; get and list show the absolute path from anywhere', async () => {
    const args = PATH_KEYS.flatMap((k, i) => [k, i % 2 === 0 ? `sub/${k}.txt` : `~/${k}`]);
    const set = await sb.run(['params', 'set', ...args], { cwd: work });
    expect(set.exitCode, set.stderr).toBe(0);
    for (const [i, k] of PATH_KEYS.entries()) {
      expect(await stored(k, '/')).toBe(i % 2 === 0 ? path.join(work, 'sub', `${k}.txt`) : path.join(sb.home, k));
    }
    const list = await sb.run(['params', 'list', '--json'], { cwd: '/' });
    const rows = json<{ params: { key: string; value: unknown }[] }>(list.stdout).params;
    for (const k of PATH_KEYS) expect(String(rows.find((r) => r.key === k)?.value)).toMatch(/^\//);
  });

  it('params import resolves relative paths against the folder where it ran, in --dry-run too', async () => {
    const file = path.join(sb.dir, 'params.json');
    fs.writeFileSync(file, JSON.stringify({ 'smtp.caFile': 'certs/proxy.pem', 'eml.outputDir': '~/drafts' }));
    const dry = await sb.run(['params', 'import', file, '--dry-run', '--json'], { cwd: work });
    expect(dry.exitCode, dry.stderr).toBe(0);
    expect(json<{ changes: { key: string; to: unknown }[] }>(dry.stdout).changes).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ key: 'smtp.caFile', to: path.join(work, 'certs', 'proxy.pem') }),
        expect.objectContaining({ key: 'eml.outputDir', to: path.join(sb.home, 'drafts') }),
      ]),
    );
    const imp = await sb.run(['params', 'import', file], { cwd: work });
    expect(imp.exitCode, imp.stderr).toBe(0);
    expect(await stored('smtp.caFile')).toBe(path.join(work, 'certs', 'proxy.pem'));
    expect(await stored('eml.outputDir')).toBe(path.join(sb.home, 'drafts'));
  });

  it('the defaults of queue.spoolDir and eml.outputDir are absolute folders beside the database', async () => {
    const fresh = sandbox('sysemail-paths-default-');
    try {
      const r = await fresh.run(['params', 'list', '--json']);
      const rows = json<{ params: { key: string; value: unknown; source: string }[] }>(r.stdout).params;
      expect(rows.find((x) => x.key === 'queue.spoolDir')).toMatchObject({
        value: path.join(path.dirname(fresh.db), 'spool'),
        source: 'default',
      });
      expect(rows.find((x) => x.key === 'eml.outputDir')).toMatchObject({
        value: path.join(path.dirname(fresh.db), 'outbox'),
        source: 'default',
      });
    } finally {
      fresh.cleanup();
    }
  });
});
