/**
 * The port lane's worker (see render-thread.ts): no database, only the rendering of claimed SMTP
 * messages ahead of their sending (render-ahead.ts), so the main thread, which also talks to the
 * database server, is left with SMTP itself.
 */
import { parentPort, workerData } from 'node:worker_threads';
import type { DkimSigningKey } from '../../../core/dkim.js';
import { MimeRenderer } from '../../../providers/smtp/render.js';
import { RenderAhead } from './render-ahead.js';
import type { RenderReply, RenderRequest } from './render-thread.js';

const port = parentPort!;
const reply = (r: RenderReply) => port.postMessage(r);
const data = workerData as { dbId: string; dkim?: DkimSigningKey[] };
const ahead = new RenderAhead(new MimeRenderer(data.dkim ?? []), data.dbId, (rendered) => reply({ rendered }));

port.on('message', (m: RenderRequest) => {
  if ('close' in m) {
    ahead.stop();
    port.close();
    return;
  }
  ahead.offer(m.render);
});
reply({ ready: true });
