/**
 * A worker thread that renders claimed SMTP messages to their bytes ahead of their sending, for the
 * port lane (a PostgreSQL database), where the queue's writes stay on the main thread as round trips
 * to the server and only the composing of messages can move. The thread lane's worker does the same
 * beside its writes. A message not rendered in time, or a thread that fails, costs nothing but the
 * main thread composing the message itself.
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Worker } from 'node:worker_threads';
import type { DkimSigningKey } from '../../../core/dkim.js';
import type { RenderedMime } from '../../../providers/types.js';
import type { ClaimedMessage } from '../../../store/queue.js';
import { rendersAhead } from './render-ahead.js';

/** Main thread → render worker. */
export type RenderRequest = { render: readonly ClaimedMessage[] } | { close: true };
/** Render worker → main thread. */
export type RenderReply = { rendered: [number, RenderedMime][] } | { ready: true };

/** How long the worker may take to start before the lane goes without it. */
const START_MS = 10_000;
const CLOSE_MS = 5_000;

export class RenderThread {
  private readonly renderings = new Map<number, RenderedMime>();
  private gone = false;

  private constructor(private readonly worker: Worker) {
    worker.on('message', (m: RenderReply) => {
      if ('rendered' in m) for (const [id, r] of m.rendered) this.renderings.set(id, r);
    });
    const lost = () => {
      this.gone = true;
    };
    worker.on('error', lost);
    worker.on('exit', lost);
    // it holds nothing that must finish: never keeps the process alive
    worker.unref();
  }

  /** The worker script next to this module: compiled code only (absent when running from sources). */
  static defaultScript(): URL | undefined {
    const url = new URL('./render-worker.js', import.meta.url);
    return existsSync(fileURLToPath(url)) ? url : undefined;
  }

  /** Starts the worker; resolves once it is ready. `dkim`: the keys SMTP signs with, so what it renders is signed the same way. */
  static async open(script: URL, dbId: string, dkim: readonly DkimSigningKey[] = []): Promise<RenderThread> {
    const { Worker } = await import('node:worker_threads');
    const worker = new Worker(script, { workerData: { dbId, dkim } });
    try {
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error('the render thread did not start')), START_MS);
        worker.once('message', () => {
          clearTimeout(timer);
          resolve();
        });
        worker.once('error', (e) => {
          clearTimeout(timer);
          reject(e);
        });
        worker.once('exit', (code) => {
          clearTimeout(timer);
          reject(new Error(`the render thread exited (code ${code})`));
        });
      });
    } catch (err) {
      await worker.terminate();
      throw err;
    }
    return new RenderThread(worker);
  }

  /** A claim's messages, to render those worth it. */
  offer(claimed: readonly ClaimedMessage[]): void {
    if (this.gone) return;
    const wanted = claimed.filter(rendersAhead);
    if (wanted.length > 0) this.worker.postMessage({ render: wanted } satisfies RenderRequest);
  }

  take(id: number): RenderedMime | undefined {
    const r = this.renderings.get(id);
    if (r) this.renderings.delete(id);
    return r;
  }

  /** Drops the renderings not taken: the messages they belong to were sent or given back. */
  clear(): void {
    this.renderings.clear();
  }

  async close(): Promise<void> {
    this.clear();
    if (this.gone) return;
    const exited = new Promise((resolve) => this.worker.once('exit', resolve));
    this.worker.postMessage({ close: true } satisfies RenderRequest);
    await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, CLOSE_MS).unref())]);
    if (!this.gone) await this.worker.terminate();
  }
}
