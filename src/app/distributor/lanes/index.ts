/** Which lane a run's writes take (see types.ts), by `queue run --write-thread` and the queue's length. */
import type { QueueRepo } from '../../../store/queue.js';
import { DEFAULT_THREAD_MIN_DUE, type RunQueueOptions } from '../types.js';
import { InlineLane } from './inline.js';
import { ThreadLane } from './thread.js';
import type { QueueLane } from './types.js';

export { InlineLane } from './inline.js';
export { ThreadLane } from './thread.js';
export type { ClaimSpec, LaneKind, QueueLane } from './types.js';

export interface LaneChoice {
  thread: RunQueueOptions['thread'];
  file: string;
  queue: QueueRepo;
  concurrency: number;
  onLaneFallback?: (err: unknown) => void;
}

/** Does a cycle with `due` messages repay starting a worker thread? */
export function wantsThread(thread: RunQueueOptions['thread'], due: number): boolean {
  if (thread === false) return false;
  const mode = thread?.mode ?? 'auto';
  if (mode === 'off') return false;
  return mode === 'on' || due >= (thread?.minDue ?? DEFAULT_THREAD_MIN_DUE);
}

/** The lane for a cycle with `due` messages: a worker thread when wanted and it starts, else this thread. */
export async function openLane(c: LaneChoice, due: number): Promise<QueueLane> {
  const script = (c.thread || undefined)?.script ?? ThreadLane.defaultScript();
  const on = c.thread !== false && c.thread?.mode === 'on';
  // running from the sources (tests) there is no compiled worker script: auto stays here silently
  if ((script || on) && wantsThread(c.thread, due)) {
    try {
      if (!script) throw new Error('its script is not built (run `npm run build`)');
      return await ThreadLane.open(c.file, script);
    } catch (err) {
      // the inline lane does the same work on this thread
      c.onLaneFallback?.(err);
    }
  }
  return new InlineLane(c.queue, c.concurrency);
}
