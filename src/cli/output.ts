/**
 * Everything sysemail prints goes through here: colour only on a TTY (and never with NO_COLOR or
 * --json), tables on a TTY, one JSON document (or JSON Lines) with --json.
 */
import type { ChalkInstance } from 'chalk';

export interface OutputOptions {
  json: boolean;
  color: boolean;
  quiet: boolean;
  verbose: boolean;
  stdout?: NodeJS.WriteStream;
  stderr?: NodeJS.WriteStream;
}

export class Output {
  readonly json: boolean;
  readonly quiet: boolean;
  readonly verbose: boolean;
  readonly isTTY: boolean;
  private readonly out: NodeJS.WriteStream;
  private readonly err: NodeJS.WriteStream;
  private chalkInstance?: ChalkInstance;
  private readonly colorOn: boolean;

  constructor(options: OutputOptions) {
    this.out = options.stdout ?? process.stdout;
    this.err = options.stderr ?? process.stderr;
    this.json = options.json;
    this.quiet = options.quiet;
    this.verbose = options.verbose;
    this.isTTY = !!this.out.isTTY && !options.json;
    this.colorOn = options.color && !options.json && this.isTTY;
  }

  /** Colour is on: a TTY, no NO_COLOR, --no-color, `"color": false` or --json. */
  get color(): boolean {
    return this.colorOn;
  }

  /** Interactive prompts and progress are allowed only on a TTY without --json. */
  get interactive(): boolean {
    return this.isTTY && !!process.stdin.isTTY;
  }

  async chalk(): Promise<ChalkInstance> {
    if (!this.chalkInstance) {
      const { Chalk } = await import('chalk');
      this.chalkInstance = new Chalk({ level: this.colorOn ? 1 : 0 });
    }
    return this.chalkInstance;
  }

  line(text = ''): void {
    this.out.write(text + '\n');
  }

  /** Notes and warnings go to stderr so stdout stays clean for pipes. */
  note(text: string): void {
    if (!this.quiet) this.err.write(text + '\n');
  }

  async warn(text: string): Promise<void> {
    if (this.quiet) return;
    const c = await this.chalk();
    this.err.write(`${c.yellow('warning:')} ${text}\n`);
  }

  debug(text: string): void {
    if (this.verbose) this.err.write(text + '\n');
  }

  jsonDoc(value: unknown): void {
    this.out.write(JSON.stringify(value) + '\n');
  }

  /** A table on a TTY; tab-separated columns otherwise, easy for cut/awk. */
  async table(head: string[], rows: (string | number | null | undefined)[][]): Promise<void> {
    const cells = rows.map((r) => r.map((c) => (c === null || c === undefined ? '' : String(c))));
    if (!this.isTTY) {
      for (const r of cells) this.line(r.join('\t'));
      return;
    }
    const { default: Table } = await import('cli-table3');
    const c = await this.chalk();
    const t = new Table({ head: head.map((h) => c.bold(h)), style: { head: [], border: [] } });
    t.push(...cells);
    this.line(t.toString());
  }

  errorLine(text: string): void {
    this.err.write(text + '\n');
  }
}

/** Ids for a one-line note: the first `shown` spelled out, the rest counted (--json lists them all). */
export function idList(ids: readonly number[], shown = 20): string {
  return ids.length <= shown ? ids.join(', ') : `${ids.slice(0, shown).join(', ')} and ${ids.length - shown} more`;
}
