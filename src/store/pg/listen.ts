/**
 * Wake-ups for `queue run --watch` on PostgreSQL: one dedicated connection LISTENs on the queue's
 * channel, which a trigger on `messages` NOTIFies whenever a message becomes pending (send --queue,
 * notify, queue import, release, retry, a claim given back), from any process on any host. PostgreSQL
 * delivers a notice when the writing transaction commits, so a wake-up always finds the message.
 *
 * The connection is best effort: while it is down, waits last their whole time (the --interval
 * polling), and it is opened again in the background; once back, the next wait returns at once
 * (messages may have arrived meanwhile). Nothing here keeps the process alive or delays its exit.
 */
import type pg from 'pg';
import type { QueueWakeups } from '../ports.js';

/** The channel the messages trigger notifies (migration 2 of ./schema.ts). */
export const QUEUE_CHANNEL = 'sysemail_queue';

const RECONNECT_MIN_MS = 500;
const RECONNECT_MAX_MS = 30_000;

export class PgQueueListener implements QueueWakeups {
  private client?: pg.Client;
  /** A notice (or a reconnection) came while nobody waited: the next wait returns at once. */
  private woken = false;
  private waiter?: () => void;
  private closed = false;
  private retryMs = RECONNECT_MIN_MS;
  private retryTimer?: NodeJS.Timeout;
  /** How many times the connection was opened (for tests: a reconnection is visible). */
  connections = 0;

  constructor(private readonly newClient: () => pg.Client) {}

  /** Opens the listening connection; a failure leaves it to the background retries (polling meanwhile). */
  async start(): Promise<void> {
    await this.connect();
  }

  get listening(): boolean {
    return this.client !== undefined;
  }

  private async connect(): Promise<void> {
    if (this.closed) return;
    const client = this.newClient();
    // a dropped connection (server restart, pg_terminate_backend) must not crash the process
    client.on('error', () => this.lost(client));
    client.on('end', () => this.lost(client));
    client.on('notification', (n) => {
      if (n.channel === QUEUE_CHANNEL) this.wake();
    });
    try {
      await client.connect();
      await client.query(`LISTEN ${QUEUE_CHANNEL}`);
    } catch {
      await client.end().catch(() => {});
      this.retryLater();
      return;
    }
    if (this.closed) {
      await client.end().catch(() => {});
      return;
    }
    // the socket must not hold the process open on its own
    (client as unknown as { connection?: { stream?: { unref?: () => void } } }).connection?.stream?.unref?.();
    this.client = client;
    this.retryMs = RECONNECT_MIN_MS;
    // what was queued while nobody listened is found by the next cycle
    if (this.connections++ > 0) this.wake();
  }

  private lost(client: pg.Client): void {
    if (this.client !== client) return;
    this.client = undefined;
    client.end().catch(() => {});
    this.retryLater();
  }

  private retryLater(): void {
    if (this.closed || this.retryTimer) return;
    const delay = this.retryMs;
    this.retryMs = Math.min(this.retryMs * 2, RECONNECT_MAX_MS);
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      void this.connect();
    }, delay);
    this.retryTimer.unref();
  }

  private wake(): void {
    if (this.waiter) this.waiter();
    else this.woken = true;
  }

  wait(ms: number, signal?: AbortSignal): Promise<boolean> {
    if (this.woken || signal?.aborted) {
      const was = this.woken;
      this.woken = false;
      return Promise.resolve(was);
    }
    return new Promise<boolean>((resolve) => {
      const done = (notified: boolean) => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        this.waiter = undefined;
        resolve(notified);
      };
      const onAbort = () => done(false);
      const timer = setTimeout(() => done(false), ms);
      this.waiter = () => done(true);
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
    this.waiter?.();
    const client = this.client;
    this.client = undefined;
    if (client) await client.end().catch(() => {});
  }
}
