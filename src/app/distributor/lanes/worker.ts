/**
 * The thread lane's worker (see thread.ts): its own connection to the database, applying the
 * distributor's writes in the order they come, each request's writes and the claim it carries in one
 * transaction.
 *
 * Between requests it renders claimed SMTP messages to their MIME bytes ahead (render-ahead.ts).
 */
import { parentPort, workerData } from 'node:worker_threads';
import type { DkimSigningKey } from '../../../core/dkim.js';
import { MimeRenderer } from '../../../providers/smtp/render.js';
import { openDatabase } from '../../../store/db.js';
import { QueueRepo, tallyOf, zeroCounts, type RunCounts } from '../../../store/queue.js';
import { errorData, type LaneReply, type LaneRequest } from './protocol.js';
import { RenderAhead } from './render-ahead.js';
import { claimRequest } from './types.js';

const port = parentPort!;
const reply = (r: LaneReply) => port.postMessage(r);
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

  const ahead = new RenderAhead(renderer, dbId, (rendered) => reply({ rendered }));

  port.on('message', (m: LaneRequest | { close: true }) => {
    if ('close' in m) {
      ahead.stop();
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
        if (m.claim.render) ahead.offer(result.claimed);
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
