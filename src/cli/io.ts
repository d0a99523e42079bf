import { SysemailError } from '../core/errors.js';
import { fs } from '../core/builtins.js';

export async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

/** Reads a file the user named; a missing or unreadable one is EX_NOINPUT (66). */
export function readInputFile(file: string, what: string): string {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? 'unreadable';
    throw new SysemailError(
      'noinput',
      'INPUT_UNREADABLE',
      `${what} ${file} cannot be read (${code === 'ENOENT' ? 'no such file' : code})`,
      {
        fix: 'Check the path and its permissions',
        cause: err,
      },
    );
  }
}

/** Reads a template's placeholder values: a JSON file, `-` for standard input, none = no values. */
export async function readTemplateData(file: string | undefined): Promise<Record<string, unknown>> {
  if (file === undefined) return {};
  const { parseTemplateData } = await import('../core/template.js');
  const text = file === '-' ? await readStdin() : readInputFile(file, 'data file');
  return parseTemplateData(text, file === '-' ? 'standard input' : file);
}
