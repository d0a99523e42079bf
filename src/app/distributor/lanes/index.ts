/**
 * Which lane a run's writes take (see types.ts): on an SQLite file by `queue run --write-thread` and the
 * queue's length; on any other store (no file, no synchronous queue) the port lane.
 */
import type { MessagesRepo } from '../../../store/ports.js';
import type { QueueRepo } from '../../../store/queue.js';
import { DEFAULT_THREAD_MIN_DUE, type RunQueueOptions } from '../types.js';
import { InlineLane } from './inline.js';
import { PortQueueLane } from './port.js';
import { ThreadLane } from './thread.js';
import type { QueueLane } from './types.js';

export { InlineLane } from './inline.js';
export { PortQueueLane } from './port.js';
export { ThreadLane } from './thread.js';
export type { ClaimSpec, LaneKind, QueueLane } from './types.js';

export interface LaneChoice {
  thread: RunQueueOptions['thread'];
  /** The SQLite file and its synchronous queue: absent on other stores. */
  file?: string;
  queue?: QueueRepo;
  messages: MessagesRepo;
  concurrency: number;
  onLaneFallback?: (err: unknown) => void;
  /** The DKIM keys the worker thread signs what it renders ahead with. */
  dkim?: RunQueueOptions['dkim'];
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
  if (!c.queue || !c.file) {
    if (c.thread !== false && c.thread?.mode === 'on') c.onLaneFallback?.(new Error('a worker thread serves SQLite databases only'));
    return new PortQueueLane(c.messages, c.concurrency);
  }
  const script = (c.thread || undefined)?.script ?? ThreadLane.defaultScript();
  const on = c.thread !== false && c.thread?.mode === 'on';
  // running from the sources (tests) there is no compiled worker script: auto stays here silently
  if ((script || on) && wantsThread(c.thread, due)) {
    try {
      if (!script) throw new Error('its script is not built (run `npm run build`)');
      return await ThreadLane.open(c.file, script, c.dkim);
    } catch (err) {
      // the inline lane does the same work on this thread
      c.onLaneFallback?.(err);
    }
  }
  return new InlineLane(c.queue, c.concurrency);
}
