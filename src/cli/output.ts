/**
 * Everything sysemail prints goes through here: colour only on a TTY (and never with NO_COLOR or
 * --json), tables on a TTY, one JSON document (or JSON Lines) with --json.
 */
import { stripVTControlCharacters } from 'node:util';
import type { ChalkInstance } from 'chalk';

/** A space either side of a cell's text, as cli-table3 draws it. */
const CELL_PADDING = 2;
/** Narrower than this a column shows nothing useful; below it the terminal wraps the table instead. */
const MIN_COLUMN = 6;
/** What every column keeps before the wide ones share the rest: room for a date or a status. */
const KEEP_COLUMN = 26;

/** Columns a text takes on a terminal: its longest line, escape sequences aside; East Asian wide characters count two. */
export function displayWidth(text: string): number {
  let widest = 0;
  for (const line of stripVTControlCharacters(text).split('\n')) {
    let w = 0;
    for (const ch of line)
      w +=
        /[\u1100-\u115f\u2e80-\ua4cf\uac00-\ud7a3\uf900-\ufaff\ufe30-\ufe4f\uff00-\uff60\uffe0-\uffe6\u{1f300}-\u{1faff}\u{20000}-\u{3fffd}]/u.test(
          ch,
        )
          ? 2
          : 1;
    widest = Math.max(widest, w);
  }
  return widest;
}

/** Shares `room` among `demands`: a small demand is met in full, the larger ones split what is left evenly. */
function waterFill(demands: readonly number[], room: number): number[] {
  const out = demands.map(() => 0);
  const order = demands.map((d, i) => ({ d, i })).sort((x, y) => x.d - y.d);
  for (let k = 0; k < order.length; k++) {
    const share = Math.floor(room / (order.length - k));
    const { d, i } = order[k];
    out[i] = Math.min(d, share);
    room -= out[i];
  }
  return out;
}

/**
 * Column widths (padding included) that fit a table into `terminalColumns`. Every column first keeps
 * up to KEEP_COLUMN (an id, a status, a date stays whole), then the wider ones share what is left,
 * so a long subject or description wraps instead of squeezing the short columns. undefined when the
 * table fits as it is or the width is unknown.
 */
export function fitColumns(natural: readonly number[], terminalColumns: number | undefined): number[] | undefined {
  if (!terminalColumns || natural.length === 0) return undefined;
  const borders = natural.length + 1;
  if (natural.reduce((a, b) => a + b, 0) + borders <= terminalColumns) return undefined;
  const room = Math.max(0, terminalColumns - borders);
  const kept = natural.map((w) => Math.min(w, KEEP_COLUMN));
  const keptTotal = kept.reduce((a, b) => a + b, 0);
  if (keptTotal > room) return waterFill(natural, room).map((w, i) => Math.max(Math.min(MIN_COLUMN, natural[i]), w));
  const extra = waterFill(
    natural.map((w, i) => w - kept[i]),
    room - keptTotal,
  );
  return kept.map((w, i) => w + extra[i]);
}

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
    const widths = fitColumns(
      [head, ...cells].reduce<number[]>((w, row) => row.map((cell, i) => Math.max(w[i] ?? 0, displayWidth(cell) + CELL_PADDING)), []),
      this.out.columns,
    );
    const t = new Table({
      head: head.map((h) => c.bold(h)),
      style: { head: [], border: [] },
      // only when the table would not fit: long cells wrap at spaces, a word longer than its column is cut with …
      ...(widths ? { colWidths: widths, wordWrap: true, wrapOnWordBoundary: true } : {}),
    });
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
