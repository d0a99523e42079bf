/**
 * The thread lane's worker (see queue-lane.ts): its own connection to the database, applying the
 * distributor's writes in the order they come, each request's writes and the claim it carries in one
 * transaction.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { openDatabase } from './db.js';
import { QueueRepo } from './queue.js';
import { claimRequest, errorData, type LaneReply, type LaneRequest } from './queue-lane.js';

const port = parentPort!;
const reply = (r: LaneReply) => port.postMessage(r);

try {
  const opened = await openDatabase((workerData as { file: string }).file);
  if (!opened) throw new Error('the database does not exist');
  const { db } = opened;
  const queue = new QueueRepo(db);
  port.on('message', (m: LaneRequest | { close: true }) => {
    if ('close' in m) {
      db.close();
      port.close();
      return;
    }
    try {
      if (m.claim) reply({ seq: m.seq, result: queue.claim(claimRequest(m.claim), m.writes) });
      else {
        queue.applyWrites(m.writes);
        if (m.ack) reply({ seq: m.seq });
      }
    } catch (err) {
      reply({ seq: m.seq, error: errorData(err) });
    }
  });
  reply({ ready: true });
} catch (err) {
  reply({ ready: false, error: errorData(err) });
}
