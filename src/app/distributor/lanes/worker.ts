/**
 * The thread lane's worker (see thread.ts): its own connection to the database, applying the
 * distributor's writes in the order they come, each request's writes and the claim it carries in one
 * transaction.
 *
 * Between requests it renders claimed SMTP messages to their MIME bytes, newest claim first and each
 * claim from its last message back, while the main thread sends from the oldest: the two meet in the
 * middle, so neither waits for the other and a message is rarely composed twice.
 */
import { parentPort, workerData } from 'node:worker_threads';
import type { DkimSigningKey } from '../../../core/dkim.js';
import { MimeRenderer } from '../../../providers/smtp/render.js';
import type { RenderedMime } from '../../../providers/types.js';
import { openDatabase } from '../../../store/db.js';
import { QueueRepo, tallyOf, zeroCounts, type ClaimedMessage, type RunCounts } from '../../../store/queue.js';
import { toOutgoing } from '../outgoing.js';
import { errorData, type LaneReply, type LaneRequest } from './protocol.js';
import { claimRequest } from './types.js';

const port = parentPort!;
const reply = (r: LaneReply) => port.postMessage(r);
/** Renderings travel in small groups: each message to the main thread wakes it up. */
const RENDERED_GROUP = 4;
/**
 * Composing a message settles on promises alone, so a loop of them never lets the port's messages in:
 * the worker yields to the event loop between messages, so a request waits for one rendering at most.
 */
const yieldToRequests = () => new Promise<void>((resolve) => setImmediate(resolve));

try {
  const opened = await openDatabase((workerData as { file: string }).file);
  if (!opened) throw new Error('the database does not exist');
  const { db, id: dbId } = opened;
  const queue = new QueueRepo(db);
  const renderer = new MimeRenderer((workerData as { dkim?: DkimSigningKey[] }).dkim ?? []);
  // accepted writes not yet reported: they go with the next answer
  let counts = zeroCounts();
  const takeCounts = (): RunCounts => {
    const c = counts;
    counts = zeroCounts();
    return c;
  };

  let toRender: ClaimedMessage[] = [];
  let rendering = false;
  const renderAhead = async (): Promise<void> => {
    if (rendering) return;
    rendering = true;
    let done: [number, RenderedMime][] = [];
    try {
      for (let m = toRender.pop(); m; m = toRender.pop()) {
        const outgoing = toOutgoing(m, dbId);
        if (m.via !== 'smtp' || !MimeRenderer.wants(outgoing)) continue;
        try {
          done.push([m.id, await renderer.render(outgoing)]);
        } catch {
          // composed again, and refused, where it is sent
        }
        if (done.length >= RENDERED_GROUP) {
          reply({ rendered: done });
          done = [];
        }
        await yieldToRequests();
      }
    } finally {
      if (done.length > 0) reply({ rendered: done });
      rendering = false;
    }
  };

  port.on('message', (m: LaneRequest | { close: true }) => {
    if ('close' in m) {
      toRender = [];
      queue.close();
      db.close();
      port.close();
      return;
    }
    try {
      if (m.claim) {
        const result = queue.claim(claimRequest(m.claim), m.writes);
        tallyOf(m.writes, result.beforeAccepted, counts);
        reply({ seq: m.seq, result, counts: takeCounts() });
        if (m.claim.render && result.claimed.length > 0) {
          // what is left of the previous claim is being sent by now
          toRender = result.claimed.slice();
          void renderAhead();
        }
      } else if (m.renew) {
        const r = queue.renew(m.renew.owner, m.renew.ids, m.renew.leaseMs, m.writes);
        tallyOf(m.writes, r.beforeAccepted, counts);
        reply({ seq: m.seq, renewed: r.renewed, counts: takeCounts() });
      } else {
        tallyOf(m.writes, queue.applyWrites(m.writes), counts);
        reply({ seq: m.seq, counts: takeCounts() });
      }
    } catch (err) {
      reply({ seq: m.seq, error: errorData(err), counts: takeCounts() });
    }
  });
  reply({ ready: true });
} catch (err) {
  reply({ ready: false, error: errorData(err) });
}
