import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { execa } from 'execa';
import { describe, expect, it } from 'vitest';
import { buildProgram } from '../../src/cli/program.js';

const ROOT = path.resolve(import.meta.dirname, '..', '..');
/** The committed page; `npm run build && npm run man` writes it from dist/. */
const PAGE = path.join(ROOT, 'man', 'sysemail.1');
const hasMan = spawnSync('man', ['--version'], { stdio: 'ignore' }).status === 0;

type Command = Awaited<ReturnType<typeof buildProgram>>;

function commandPaths(cmd: Command, prefix: string[] = []): string[] {
  return cmd.commands.flatMap((c) => {
    const here = [...prefix, c.name()];
    return [here.join(' '), ...commandPaths(c, here)];
  });
}

describe('man/sysemail.1', () => {
  it('is in step with the commands (run `npm run build && npm run man` after changing their help)', async () => {
    const fresh = await execa(process.execPath, [path.join(ROOT, 'scripts', 'gen-man.js'), '--stdout'], { cwd: ROOT, timeout: 20_000 });
    expect(fs.readFileSync(PAGE, 'utf8')).toBe(fresh.stdout + '\n');
  });

  it('has a section for every command and sub-command, with its options', async () => {
    const page = fs.readFileSync(PAGE, 'utf8');
    const program = await buildProgram(() => {});
    const paths = commandPaths(program);
    expect(paths).toContain('queue run');
    for (const p of paths) expect(page, `no section for sysemail ${p}`).toContain(`.SS sysemail ${p.replace(/-/g, '\\-')}\n`);
    const run = program.commands.find((c) => c.name() === 'queue')!.commands.find((c) => c.name() === 'run')!;
    for (const o of run.options) expect(page).toContain(`\\fB${o.long!.replace(/-/g, '\\-')}`);
    for (const section of ['NAME', 'SYNOPSIS', 'DESCRIPTION', 'COMMANDS', 'EXIT STATUS', 'ENVIRONMENT', 'FILES', 'SEE ALSO']) {
      expect(page).toContain(`\n.SH ${section}\n`);
    }
    for (const code of [64, 65, 66, 69, 70, 74, 75, 77, 78]) expect(page).toContain(`\n\\fB${code}\\fR (`);
  });

  it('is shipped with the package', () => {
    const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { files: string[]; man: string[] };
    expect(pkg.files).toContain('man');
    expect(pkg.man).toEqual(['man/sysemail.1']);
  });

  it.skipIf(!hasMan)('renders with man without a warning', async () => {
    const r = await execa('man', ['--warnings', '-l', PAGE], {
      env: { MANWIDTH: '80', MAN_KEEP_FORMATTING: '', MANPAGER: 'cat', PAGER: 'cat', LC_ALL: 'C.UTF-8' },
      timeout: 20_000,
      reject: false,
    });
    expect(r.exitCode).toBe(0);
    expect(r.stderr).toBe('');
    expect(r.stdout).toContain('EXIT STATUS');
    expect(r.stdout).toContain('sysemail queue run');
  });
});
