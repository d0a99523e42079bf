/**
 * DKIM signing (RFC 6376, relaxed/relaxed) of a message's final bytes, as a stream: every header is
 * final by then (Message-ID, Date), so the signature covers exactly what leaves.
 *
 * rsa-sha256 goes through nodemailer's own signer (nodemailer/lib/dkim). nodemailer signs with RSA
 * only (its DKIM-Signature always says a=rsa-...), so ed25519-sha256 (RFC 8463) is signed here with
 * Node's crypto, on nodemailer's own header parser, relaxed body hash and header canonicalisation.
 *
 * A signature needs the body hash before the first byte goes out, so the body is held until it is
 * hashed: in memory up to BODY_IN_MEMORY_BYTES, beyond that in a file of a private temporary folder
 * (mode 0600, deleted when the message has gone). A 20 MB attachment never sits in memory.
 */
import { createHash, createPrivateKey, sign as cryptoSign, type KeyObject } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { PassThrough, Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { randomBytes } from 'node:crypto';
import { DKIM_SIGNED_HEADERS, dkimKeysFor, type DkimSigningKey } from '../core/dkim.js';

/** Bodies up to this size are held in memory while they are hashed; larger ones go to a private file. */
export const BODY_IN_MEMORY_BYTES = 256 * 1024;

let cacheDir: string | undefined;

/** A folder only this user can read (mkdtemp makes it 0700), removed when the process ends. */
function privateCacheDir(): string {
  if (!cacheDir || !fs.existsSync(cacheDir)) {
    cacheDir = fs.mkdtempSync(path.join(os.tmpdir(), 'sysemail-dkim-'));
    const dir = cacheDir;
    process.once('exit', () => fs.rmSync(dir, { recursive: true, force: true }));
  }
  return cacheDir;
}

interface HeaderLine {
  key: string;
  line: string;
}

type DkimModules = {
  DKIM: (typeof import('nodemailer/lib/dkim'))['default'];
  MessageParser: (typeof import('nodemailer/lib/dkim/message-parser'))['default'];
  RelaxedBody: (typeof import('nodemailer/lib/dkim/relaxed-body'))['default'];
  relaxedHeaders: (typeof import('nodemailer/lib/dkim/sign'))['default']['relaxedHeaders'];
  foldLines: (typeof import('nodemailer/lib/mime-funcs'))['foldLines'];
};

let modules: Promise<DkimModules> | undefined;

function loadModules(): Promise<DkimModules> {
  modules ??= Promise.all([
    import('nodemailer/lib/dkim'),
    import('nodemailer/lib/dkim/message-parser'),
    import('nodemailer/lib/dkim/relaxed-body'),
    import('nodemailer/lib/dkim/sign'),
    import('nodemailer/lib/mime-funcs'),
  ]).then(([dkim, parser, body, sign, mime]) => ({
    DKIM: dkim.default,
    MessageParser: parser.default,
    RelaxedBody: body.default,
    relaxedHeaders: sign.default.relaxedHeaders,
    foldLines: mime.foldLines,
  }));
  return modules;
}

/** Relaxed canonicalisation of one header field's value (RFC 6376 §3.4.2), as nodemailer does it. */
function relaxedValue(line: string): string {
  return line
    .slice(line.indexOf(':') + 1)
    .replace(/\r?\n/g, '')
    .replace(/[ \t]+/g, ' ')
    .replace(/^ | $/g, '');
}

/** The body as it passed through: in memory while small, in a private file once large. */
class BodyHold extends Writable {
  private chunks: Buffer[] = [];
  private size = 0;
  private file?: string;
  private handle?: fs.promises.FileHandle;

  override _write(chunk: Buffer, _enc: BufferEncoding, done: (err?: Error | null) => void): void {
    this.size += chunk.length;
    if (!this.handle && this.size <= BODY_IN_MEMORY_BYTES) {
      this.chunks.push(chunk);
      done();
      return;
    }
    void this.spill(chunk).then(() => done(), done);
  }

  private async spill(chunk: Buffer): Promise<void> {
    if (!this.handle) {
      this.file = path.join(privateCacheDir(), `body-${randomBytes(8).toString('hex')}`);
      this.handle = await fs.promises.open(this.file, 'wx', 0o600);
      await this.handle.write(Buffer.concat(this.chunks));
      this.chunks = [];
    }
    await this.handle.write(chunk);
  }

  override _final(done: (err?: Error | null) => void): void {
    if (!this.handle) return done();
    this.handle.close().then(() => done(), done);
  }

  async *read(): AsyncGenerator<Buffer> {
    if (!this.file) {
      yield* this.chunks;
      return;
    }
    for await (const chunk of fs.createReadStream(this.file)) yield chunk as Buffer;
  }

  release(): void {
    if (this.file) fs.rmSync(this.file, { force: true });
    this.chunks = [];
  }
}

/**
 * The parsed private key of a PEM text. Parsing is most of the cost of a signature (an RSA key's PEM
 * takes about four times the signing itself), so each key is parsed once per thread and kept here,
 * in memory only.
 */
const parsedKeys = new Map<string, KeyObject>();
function keyObject(pem: string): KeyObject {
  let k = parsedKeys.get(pem);
  if (!k) {
    k = createPrivateKey(pem);
    parsedKeys.set(pem, k);
  }
  return k;
}

/** The DKIM-Signature field for an Ed25519 key (RFC 8463: the signature is over the SHA-256 of the headers). */
function ed25519Field(m: DkimModules, headers: HeaderLine[], bodyHash: string, key: DkimSigningKey): string {
  const canon = m.relaxedHeaders(headers, DKIM_SIGNED_HEADERS, '');
  const tags = [
    'v=1',
    'a=ed25519-sha256',
    'c=relaxed/relaxed',
    `d=${key.domain}`,
    'q=dns/txt',
    `s=${key.selector}`,
    `bh=${bodyHash}`,
    `h=${canon.fieldNames}`,
  ].join('; ');
  const head = m.foldLines(`DKIM-Signature: ${tags}`, 76) + ';\r\n b=';
  const data = canon.headers + 'dkim-signature:' + relaxedValue(head);
  const digest = createHash('sha256').update(data, 'latin1').digest();
  const signature = cryptoSign(null, digest, keyObject(key.privateKey)).toString('base64');
  return head + signature.replace(/(^.{73}|.{75}(?!\r?\n|\r))/g, '$&\r\n ').trim() + '\r\n';
}

async function* signedEd25519(m: DkimModules, input: Readable, keys: readonly DkimSigningKey[]): AsyncGenerator<Buffer> {
  const parser = new m.MessageParser();
  const relaxed = new m.RelaxedBody({ hashAlgo: 'sha256' });
  let headers: HeaderLine[] = [];
  let bodyHash = '';
  parser.on('headers', (h: HeaderLine[]) => (headers = h));
  relaxed.on('hash', (h: string) => (bodyHash = h));
  const body = new BodyHold();
  try {
    await pipeline(input, parser, relaxed, body);
    for (const key of keys) yield Buffer.from(ed25519Field(m, headers, bodyHash, key), 'latin1');
    if (parser.rawHeaders) yield parser.rawHeaders;
    yield* body.read();
  } finally {
    body.release();
  }
}

/**
 * The message `input` signed with every key in `keys` (the keys of its From domain): RSA keys by
 * nodemailer, Ed25519 keys here. Errors of the input come out on the returned stream.
 */
export async function signMessageStream(input: Readable, keys: readonly DkimSigningKey[]): Promise<Readable> {
  if (keys.length === 0) return input;
  const m = await loadModules();
  let out: Readable = input;
  const rsa = keys.filter((k) => k.algorithm === 'rsa-sha256');
  const ed = keys.filter((k) => k.algorithm === 'ed25519-sha256');
  if (ed.length > 0) out = Readable.from(signedEd25519(m, out, ed), { objectMode: false });
  if (rsa.length > 0) {
    const dkim = new m.DKIM({
      // nodemailer hands the key to crypto's sign as it is: a parsed one saves parsing it per message
      keys: rsa.map((k) => ({ domainName: k.domain, keySelector: k.selector, privateKey: keyObject(k.privateKey) as unknown as string })),
      headerFieldNames: DKIM_SIGNED_HEADERS,
      cacheDir: privateCacheDir(),
      cacheTreshold: BODY_IN_MEMORY_BYTES,
    });
    out = dkim.sign(out);
  }
  return out;
}

/** The signed bytes of a whole message held in memory (the distributor renders small messages ahead). */
export async function signMessageBuffer(raw: Buffer, keys: readonly DkimSigningKey[]): Promise<Buffer> {
  if (keys.length === 0) return raw;
  const signed = await signMessageStream(Readable.from([raw]), keys);
  const chunks: Buffer[] = [];
  for await (const chunk of signed) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/**
 * For nodemailer's `processFunc` (a function from the message stream to the one that is sent): signs
 * with the keys of `from`'s domain. processFunc wants a stream back at once, so the signed stream is
 * piped into a PassThrough when the signer modules are loaded.
 */
export function dkimProcessFunc(keys: readonly DkimSigningKey[], from: string): ((input: Readable) => Readable) | undefined {
  const mine = dkimKeysFor(keys, from);
  if (mine.length === 0) return undefined;
  return (input: Readable) => {
    const out = new PassThrough();
    signMessageStream(input, mine).then(
      (signed) => {
        signed.on('error', (err) => out.destroy(err));
        out.on('close', () => {
          if (!out.writableFinished) signed.destroy();
        });
        signed.pipe(out);
      },
      (err: Error) => out.destroy(err),
    );
    return out;
  };
}
