/**
 * Which lane a run's writes take (see types.ts): on an SQLite file by `queue run --write-thread` and the
 * queue's length; on any other store (no file, no synchronous queue) the port lane.
 */
import type { MessagesRepo } from '../../../store/ports.js';
import type { QueueRepo } from '../../../store/queue.js';
import { DEFAULT_THREAD_MIN_DUE, type RunQueueOptions } from '../types.js';
import { InlineLane } from './inline.js';
import { PortQueueLane } from './port.js';
import { RenderThread } from './render-thread.js';
import { ThreadLane } from './thread.js';
import type { QueueLane } from './types.js';

export { InlineLane } from './inline.js';
export { PortQueueLane } from './port.js';
export { RenderThread } from './render-thread.js';
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
  /** The database's id (in the Message-IDs the worker renders). */
  dbId: string;
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
    // its render thread: renderAheadFor, for this cycle and the later ones of the run
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

/**
 * The port lane's render thread, started for the first cycle that repays it (the same rule as the
 * thread lane's) and kept for the rest of the run; when it cannot start, messages are composed on
 * this thread as before, for the rest of the run. Running from the sources (tests) there is no compiled script: none, silently.
 */
export async function renderAheadFor(lane: PortQueueLane, c: Pick<LaneChoice, 'thread' | 'dkim' | 'dbId'>, due: number): Promise<void> {
  if (lane.rendersAhead || lane.renderUnavailable || !wantsThread(c.thread, due)) return;
  const script = (c.thread || undefined)?.renderScript ?? RenderThread.defaultScript();
  if (!script) return;
  try {
    lane.renderOn(await RenderThread.open(script, c.dbId, c.dkim));
  } catch {
    // composed here, as without the thread
    lane.renderUnavailable = true;
  }
}
