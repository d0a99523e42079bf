/**
 * A real DNS server on 127.0.0.1 for the domain checks and DKIM verification: UDP and TCP on the same
 * ephemeral port (a large TXT answer makes resolvers retry over TCP), answering from a zone the test
 * writes and may change while the server runs. Names are matched case-insensitively, without the
 * trailing dot; an unknown name gets NXDOMAIN, a known name without the asked type an empty answer.
 * A name may also be scripted to fail: SERVFAIL, or no answer at all (SILENT).
 */
import dgram from 'node:dgram';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
/* eslint-disable @typescript-eslint/no-explicit-any -- dns2 is CommonJS without types */
const dns2: any = require('dns2');
const { Packet } = dns2;

export interface ZoneRecords {
  A?: string[];
  AAAA?: string[];
  /** Each TXT record as one string; strings longer than 255 bytes are split into character-strings. */
  TXT?: string[];
  MX?: { exchange: string; priority: number }[];
  CNAME?: string;
  /** PTR names, on a reverse name (`10.2.0.192.in-addr.arpa`; reverseName() in src/core/domain/ip.ts makes one). */
  PTR?: string[];
  /** Answer every question about this name with SERVFAIL. */
  SERVFAIL?: boolean;
  /** Never answer questions about this name (the resolver times out). */
  SILENT?: boolean;
}

export type Zone = Record<string, ZoneRecords>;

export interface DnsServer {
  host: string;
  port: number;
  /** `127.0.0.1:PORT`, as `--dns-server` and `Resolver.setServers` take it. */
  address: string;
  /** Replaces (or with `undefined`, removes) one name's records. */
  set(name: string, records: ZoneRecords | undefined): void;
  /** Every question asked so far, as `TYPE name`. */
  queries: string[];
  close(): Promise<void>;
}

const norm = (name: string) => name.toLowerCase().replace(/\.$/, '');

function chunks(text: string): Buffer[] {
  const bytes = Buffer.from(text, 'utf8');
  const out: Buffer[] = [];
  for (let i = 0; i < bytes.length; i += 255) out.push(bytes.subarray(i, i + 255));
  return out.length ? out : [Buffer.alloc(0)];
}

const TYPE_NAMES: Record<number, string> = Object.fromEntries(Object.entries(Packet.TYPE).map(([k, v]) => [v as number, k]));

/** A UDP port that is free now, so that TCP can take the same number. */
async function freeUdpPort(): Promise<number> {
  const sock = dgram.createSocket('udp4');
  await new Promise<void>((resolve) => sock.bind(0, '127.0.0.1', resolve));
  const { port } = sock.address();
  await new Promise<void>((resolve) => sock.close(() => resolve()));
  return port;
}

export async function startDnsServer(initial: Zone = {}): Promise<DnsServer> {
  const zone = new Map<string, ZoneRecords>();
  for (const [name, records] of Object.entries(initial)) zone.set(norm(name), records);
  const queries: string[] = [];

  const handle = (request: any, send: (r: any) => void) => {
    const response = Packet.createResponseFromRequest(request);
    const [question] = request.questions;
    const name = norm(question.name);
    const typeName = TYPE_NAMES[question.type] ?? String(question.type);
    queries.push(`${typeName} ${name}`);
    const records = zone.get(name);
    if (records?.SILENT) return;
    if (records?.SERVFAIL) {
      response.header.rcode = 2; // SERVFAIL
    } else if (!records) {
      response.header.rcode = 3; // NXDOMAIN
    } else {
      const base = { name: question.name, class: Packet.CLASS.IN, ttl: 60 };
      if (records.CNAME && question.type !== Packet.TYPE.CNAME) {
        response.answers.push({ ...base, type: Packet.TYPE.CNAME, domain: records.CNAME });
      }
      if (question.type === Packet.TYPE.A)
        for (const a of records.A ?? []) response.answers.push({ ...base, type: Packet.TYPE.A, address: a });
      if (question.type === Packet.TYPE.AAAA)
        for (const a of records.AAAA ?? []) response.answers.push({ ...base, type: Packet.TYPE.AAAA, address: a });
      if (question.type === Packet.TYPE.TXT)
        for (const t of records.TXT ?? []) response.answers.push({ ...base, type: Packet.TYPE.TXT, data: chunks(t) });
      if (question.type === Packet.TYPE.MX)
        for (const mx of records.MX ?? [])
          response.answers.push({ ...base, type: Packet.TYPE.MX, exchange: mx.exchange, priority: mx.priority });
      if (question.type === Packet.TYPE.PTR)
        for (const ptr of records.PTR ?? []) response.answers.push({ ...base, type: Packet.TYPE.PTR, domain: ptr });
      if (question.type === Packet.TYPE.CNAME && records.CNAME)
        response.answers.push({ ...base, type: Packet.TYPE.CNAME, domain: records.CNAME });
    }
    send(response);
  };

  // UDP and TCP on one port number; retry if another process takes the number in between
  for (let tries = 0; ; tries++) {
    const port = await freeUdpPort();
    const server = dns2.createServer({ udp: true, tcp: true, handle });
    try {
      await Promise.race([
        server.listen({ udp: { port, address: '127.0.0.1' }, tcp: { port, address: '127.0.0.1' } }),
        new Promise((_, reject) => server.once('error', reject)),
      ]);
    } catch (err) {
      await server.close().catch(() => {});
      if (tries < 5) continue;
      throw err;
    }
    return {
      host: '127.0.0.1',
      port,
      address: `127.0.0.1:${port}`,
      queries,
      set(name, records) {
        if (records) zone.set(norm(name), records);
        else zone.delete(norm(name));
      },
      async close() {
        await server.close();
      },
    };
  }
}
