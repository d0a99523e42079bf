/**
 * Renders messages to their MIME bytes exactly as the SMTP transport would (the same nodemailer
 * composition, into a buffer), for sending later with `rendered`: the distributor's worker thread
 * renders ahead, so the main thread only talks SMTP.
 */
import type { Transporter } from 'nodemailer';
import type { OutgoingMessage, RenderedMime } from '../../core/outgoing.js';
import { nodemailerMessage } from '../common.js';
import { serializeMime, type MimeEncoders } from './internals.js';

/** What nodemailer hands a transport: the compiled message (its documented custom-transport API). */
interface RenderableMessage {
  build(cb: (err: Error | null, raw: Buffer) => void): void;
  getEnvelope(): { from: string | false; to: string[] };
}

/** Messages with attachments are not rendered ahead: their bytes could be large. */
export class MimeRenderer {
  private transporter?: Transporter;
  /** Messages written at once (serializeMime) rather than through build()'s stream pipeline. */
  serialized = 0;

  static wants(message: OutgoingMessage): boolean {
    return message.attachments.length === 0;
  }

  async render(message: OutgoingMessage): Promise<RenderedMime> {
    if (!this.transporter) {
      const [{ default: nodemailer }, qp, base64] = await Promise.all([
        import('nodemailer'),
        import('nodemailer/lib/qp/index.js'),
        import('nodemailer/lib/base64/index.js'),
      ]);
      const encoders: MimeEncoders = { qp, base64 };
      // a transport of our own that keeps the built bytes: nodemailer's stream transport would keep the
      // Bcc header, which the SMTP transport leaves out
      const keep = {
        name: 'sysemail-render',
        version: '1',
        send: (mail: { message: RenderableMessage }, done: (err: Error | null, info?: unknown) => void) => {
          const envelope = mail.message.getEnvelope();
          const raw = serializeMime(mail.message, encoders);
          if (raw) {
            this.serialized++;
            return done(null, { envelope, raw });
          }
          mail.message.build((err, built) => (err ? done(err) : done(null, { envelope, raw: built })));
        },
      };
      this.transporter = nodemailer.createTransport(keep as unknown as Parameters<typeof nodemailer.createTransport>[0]);
    }
    const info = (await this.transporter.sendMail(nodemailerMessage(message))) as unknown as {
      envelope: { from: string | false; to: string[] };
      raw: Buffer;
    };
    return { raw: info.raw, envelope: { from: info.envelope.from || '', to: info.envelope.to } };
  }
}
