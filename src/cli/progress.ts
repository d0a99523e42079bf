/**
 * A one-line progress bar on stderr, drawn only when stderr is a terminal and --json is off, so pipes,
 * cron mail and JSON consumers never see it.
 */
export interface ProgressBar {
  update(done: number, total: number): void;
  done(): void;
}

const NOOP: ProgressBar = { update() {}, done() {} };
const WIDTH = 28;
/** Redraws at most this often: a terminal redraw per message would slow a fast drain. */
const REDRAW_MS = 100;

export function progressBar(label: string, opts: { json: boolean; quiet?: boolean; stream?: NodeJS.WriteStream }): ProgressBar {
  const stream = opts.stream ?? process.stderr;
  if (opts.json || opts.quiet || !stream.isTTY) return NOOP;
  const started = Date.now();
  let last = 0;
  let drawn = false;
  const draw = (done: number, total: number) => {
    const ratio = total > 0 ? Math.min(1, done / total) : 0;
    const filled = Math.round(ratio * WIDTH);
    const secs = (Date.now() - started) / 1000;
    const rate = secs > 0 ? Math.round(done / secs) : 0;
    const bar = '█'.repeat(filled) + '░'.repeat(WIDTH - filled);
    stream.write(`\r${label} ${bar} ${String(Math.round(ratio * 100)).padStart(3)}% ${done}/${total} ${rate}/s\x1b[K`);
    drawn = true;
  };
  return {
    update(done, total) {
      const now = Date.now();
      if (now - last < REDRAW_MS && done < total) return;
      last = now;
      draw(done, total);
    },
    done() {
      if (drawn) stream.write('\r\x1b[K');
      drawn = false;
    },
  };
}
