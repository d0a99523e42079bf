/**
 * Rendering claimed SMTP messages to their MIME bytes ahead of their sending, on a worker thread
 * (the thread lane's worker.ts, or the port lane's render-worker.ts): newest claim first and each
 * claim from its last message back, while the main thread sends from the oldest. The two meet in the
 * middle, so neither waits for the other and a message is rarely composed twice.
 */
import { MimeRenderer } from '../../../providers/smtp/render.js';
import type { RenderedMime } from '../../../providers/types.js';
import type { ClaimedMessage } from '../../../store/queue.js';
import { toOutgoing } from '../outgoing.js';

/** Renderings travel in small groups: each message to the main thread wakes it up. */
const RENDERED_GROUP = 4;

/**
 * Composing a message settles on promises alone, so a loop of them never lets the port's messages in:
 * the loop yields to the event loop between messages, so a request waits for one rendering at most.
 */
const yieldToRequests = () => new Promise<void>((resolve) => setImmediate(resolve));

/** Which claimed messages are worth sending to a thread that renders: SMTP ones without attachments. */
export function rendersAhead(m: ClaimedMessage): boolean {
  return m.via === 'smtp' && m.attachments.length === 0;
}

export class RenderAhead {
  private toRender: ClaimedMessage[] = [];
  private rendering = false;

  constructor(
    private readonly renderer: MimeRenderer,
    private readonly dbId: string,
    private readonly post: (rendered: [number, RenderedMime][]) => void,
  ) {}

  /** A new claim's messages: what is left of the previous one is being sent by now. */
  offer(claimed: readonly ClaimedMessage[]): void {
    if (claimed.length === 0) return;
    this.toRender = claimed.slice();
    void this.run();
  }

  stop(): void {
    this.toRender = [];
  }

  private async run(): Promise<void> {
    if (this.rendering) return;
    this.rendering = true;
    let done: [number, RenderedMime][] = [];
    try {
      for (let m = this.toRender.pop(); m; m = this.toRender.pop()) {
        const outgoing = toOutgoing(m, this.dbId);
        if (m.via !== 'smtp' || !MimeRenderer.wants(outgoing)) continue;
        try {
          done.push([m.id, await this.renderer.render(outgoing)]);
        } catch {
          // composed again, and refused, where it is sent
        }
        if (done.length >= RENDERED_GROUP) {
          this.post(done);
          done = [];
        }
        await yieldToRequests();
      }
    } finally {
      if (done.length > 0) this.post(done);
      this.rendering = false;
    }
  }
}
