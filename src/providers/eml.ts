/**
 * The "email app" provider: writes the whole message (all parts, every attachment, Bcc kept) as an
 * RFC 5322 .eml file marked `X-Unsent: 1`, which Outlook and other desktop clients open as a draft
 * ready to send. Needs no server, so it is the default that works out of the box.
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { keepFolderOwner } from '../config/paths.js';
import type { SysemailError } from '../core/errors.js';
import { isSysemailError } from '../core/errors.js';
import type { FailureInfo } from '../core/failure.js';
import { dkimKeysFor } from '../core/dkim.js';
import { recipientsOf } from '../core/message.js';
import { signMessageStream } from './dkim.js';
import type { ConnectionTestOptions, OutgoingMessage, PhaseResult, Provider, SendResult } from './types.js';
import { configError, failureError, nodemailerMessage, type ProviderOptions } from './common.js';
import { makeFolders } from '../store/folders.js';

function slug(subject: string): string {
  const s = subject
    .normalize('NFKD')
    .replace(/[^\w\s-]/g, '')
    .trim()
    .replace(/[\s_]+/g, '-')
    .toLowerCase()
    .slice(0, 40)
    .replace(/-+$/, '');
  return s || 'message';
}

function stamp(d: Date): string {
  const p = (n: number) => String(n).padStart(2, '0');
  return `${d.getFullYear()}${p(d.getMonth() + 1)}${p(d.getDate())}-${p(d.getHours())}${p(d.getMinutes())}${p(d.getSeconds())}`;
}

function writeError(err: unknown, dir: string, what: string): SysemailError {
  if (isSysemailError(err)) return err;
  const code = (err as NodeJS.ErrnoException).code ?? 'EIO';
  const failure: FailureInfo = { provider: 'eml', phase: 'write', code, response: (err as Error).message ?? String(err) };
  if (code === 'ENOENT' && what !== 'folder') {
    return failureError(
      { ...failure, phase: 'data', code: 'ENOENT' },
      'ATTACHMENT_UNREADABLE',
      `an attachment could not be read while writing the .eml (${failure.response})`,
      'Check that the attachment files still exist',
    );
  }
  return failureError(
    failure,
    'EML_WRITE_FAILED',
    `cannot write the .eml ${what} in ${dir} (${code})`,
    'Make eml.outputDir a writable folder: `sysemail params set eml.outputDir ~/outbox`',
    err,
  );
}

export class EmlProvider implements Provider {
  readonly name = 'eml' as const;

  constructor(private readonly options: ProviderOptions) {}

  private outputDir(): string {
    const dir = this.options.settings.string('eml.outputDir');
    if (!dir)
      throw configError('eml', 'EML_DIR_MISSING', 'eml.outputDir is not set', 'Set it with `sysemail params set eml.outputDir ~/outbox`');
    return path.resolve(dir.replace(/^~(?=$|\/)/, this.options.secrets.env.HOME ?? '~'));
  }

  async prepare(): Promise<void> {
    this.outputDir();
  }

  private ensureDir(dir: string): void {
    try {
      const created = makeFolders(dir, 0o700);
      if (created) keepFolderOwner(created);
      if (!fs.statSync(dir).isDirectory()) throw Object.assign(new Error(`${dir} is not a folder`), { code: 'ENOTDIR' });
    } catch (err) {
      throw writeError(err, dir, 'folder');
    }
  }

  async send(message: OutgoingMessage): Promise<SendResult> {
    const dir = this.outputDir();
    this.ensureDir(dir);
    const { default: MailComposer } = await import('nodemailer/lib/mail-composer');
    const options = nodemailerMessage(message);
    const node = new MailComposer({ ...options, headers: { ...(message.headers ?? {}), 'X-Unsent': '1' } }).compile();
    // a draft for a mail client keeps its Bcc; the client removes it when it sends
    node.keepBcc = true;
    const messageId = node.messageId();
    const file = path.join(dir, `${stamp(new Date())}-${slug(message.subject)}-${randomBytes(3).toString('hex')}.eml`);
    let out: fs.WriteStream;
    try {
      const fd = fs.openSync(file, fs.constants.O_CREAT | fs.constants.O_EXCL | fs.constants.O_WRONLY, 0o600);
      out = fs.createWriteStream('', { fd });
    } catch (err) {
      throw writeError(err, dir, 'file');
    }
    try {
      const keys = dkimKeysFor(this.options.dkim ?? [], message.from);
      await pipeline(keys.length > 0 ? await signMessageStream(node.createReadStream(), keys) : node.createReadStream(), out);
      keepFolderOwner(file);
    } catch (err) {
      fs.rmSync(file, { force: true });
      throw writeError(err, dir, 'file');
    }
    return { provider: 'eml', file, messageId, response: `written to ${file}`, accepted: recipientsOf(message), rejected: [] };
  }

  /** The email app has no server: the one step is writing a file (a real test message without quitAfter). */
  async test(opts: ConnectionTestOptions): Promise<{ ok: boolean; phases: PhaseResult[]; failure?: FailureInfo; error?: SysemailError }> {
    const started = Date.now();
    const phase = (ok: boolean, detail: string): PhaseResult => {
      const p: PhaseResult = { phase: 'write', ok, ms: Date.now() - started, detail };
      opts.onPhase?.(p);
      return p;
    };
    try {
      if (opts.quitAfter) {
        const dir = this.outputDir();
        this.ensureDir(dir);
        const probe = path.join(dir, `.sysemail-probe-${randomBytes(4).toString('hex')}`);
        try {
          fs.writeFileSync(probe, '', { mode: 0o600, flag: 'wx' });
          fs.rmSync(probe);
        } catch (err) {
          throw writeError(err, dir, 'file');
        }
        return { ok: true, phases: [phase(true, `${dir} is writable`)] };
      }
      const to = opts.to ?? opts.from;
      const result = await this.send({
        from: opts.from,
        to: [to],
        cc: [],
        bcc: [],
        subject: 'sysemail test message',
        text: 'This message was written by `sysemail test-email` to check the email-app provider.\n',
        attachments: [],
      });
      return { ok: true, phases: [phase(true, result.file ?? '')] };
    } catch (err) {
      if (!isSysemailError(err)) throw err;
      return { ok: false, phases: [phase(false, err.message)], failure: err.data as FailureInfo | undefined, error: err };
    }
  }

  async close(): Promise<void> {}
}
