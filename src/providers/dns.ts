/**
 * The DNS adapter of the sender-domain checks: Node's resolver (c-ares), on the system's name servers
 * or on the one `--dns-server` names, each query bounded (a timeout per try, two tries, and a hard
 * deadline after which the answer is no longer waited for), so a silent server costs seconds, not minutes.
 */
import { Resolver } from 'node:dns/promises';
import { isIP } from 'node:net';
import { SysemailError } from '../core/errors.js';
import type { DnsAnswer, DnsFailure, DomainDns, MxRecord } from '../core/domain/dns.js';
import { quoted } from '../core/text.js';

export interface ResolverOptions {
  /** `HOST[:PORT]`, `[IPv6]:PORT` or an IPv6 address; the system's name servers when absent. */
  server?: string;
  /** One try's timeout; the query as a whole is given up after four of these. */
  timeoutMs: number;
}

/** `HOST[:PORT]` as Resolver.setServers takes it, or a usage error naming the form. */
export function parseDnsServer(text: string): string {
  const t = text.trim();
  const bad = () =>
    new SysemailError('usage', 'USAGE', `--dns-server ${quoted(text)} is not an IP address with an optional port`, {
      fix: 'Give it as 192.0.2.53, 192.0.2.53:5353, 2001:db8::53 or [2001:db8::53]:5353',
    });
  let host = t;
  let port: string | undefined;
  const bracket = /^\[([^\]]+)\](?::(\d+))?$/.exec(t);
  if (bracket) [host, port] = [bracket[1], bracket[2]];
  else if (isIP(t) !== 6 && t.includes(':')) [host, port] = [t.slice(0, t.lastIndexOf(':')), t.slice(t.lastIndexOf(':') + 1)];
  if (!isIP(host)) throw bad();
  if (port !== undefined && (!/^\d{1,5}$/.test(port) || Number(port) < 1 || Number(port) > 65535)) throw bad();
  if (port === undefined) return host;
  return isIP(host) === 6 ? `[${host}]:${port}` : `${host}:${port}`;
}

const FAILURES: Record<string, DnsFailure> = {
  ENOTFOUND: 'nxdomain',
  ENODATA: 'nodata',
  ESERVFAIL: 'servfail',
  ETIMEOUT: 'timeout',
  ECANCELLED: 'timeout',
  EREFUSED: 'refused',
  ECONNREFUSED: 'unreachable',
};

const WHAT: Record<DnsFailure, string> = {
  nxdomain: 'no such name',
  nodata: 'no record of that type',
  servfail: 'the name server failed (SERVFAIL)',
  timeout: 'no answer in time',
  refused: 'the name server refused the query',
  unreachable: 'the name server cannot be reached',
  error: 'lookup failed',
};

export class NodeDns implements DomainDns {
  private readonly resolver: Resolver;
  /** Queries that ended with no answer from any server (timeout, unreachable). */
  unanswered = 0;
  answered = 0;

  constructor(readonly options: ResolverOptions) {
    this.resolver = new Resolver({ timeout: options.timeoutMs, tries: 2 });
    if (options.server) this.resolver.setServers([options.server]);
  }

  /** The name servers asked, for messages. */
  servers(): string[] {
    return this.resolver.getServers();
  }

  private async ask<T>(what: string, query: () => Promise<T[]>): Promise<DnsAnswer<T>> {
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        reject(Object.assign(new Error('cancelled'), { code: 'ETIMEOUT' }));
      }, this.options.timeoutMs * 4);
    });
    try {
      const records = await Promise.race([query(), deadline]);
      this.answered++;
      return { ok: true, records };
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code ?? '';
      const failure = FAILURES[code] ?? 'error';
      if (failure === 'timeout' || failure === 'unreachable') this.unanswered++;
      else this.answered++;
      return { ok: false, failure, detail: `${what}: ${WHAT[failure]}${failure === 'error' ? ` (${code || String(err)})` : ''}` };
    } finally {
      clearTimeout(timer);
    }
  }

  txt(name: string): Promise<DnsAnswer<string>> {
    return this.ask(`TXT ${name}`, async () => (await this.resolver.resolveTxt(name)).map((chunks) => chunks.join('')));
  }
  a(name: string): Promise<DnsAnswer<string>> {
    return this.ask(`A ${name}`, () => this.resolver.resolve4(name));
  }
  aaaa(name: string): Promise<DnsAnswer<string>> {
    return this.ask(`AAAA ${name}`, () => this.resolver.resolve6(name));
  }
  mx(name: string): Promise<DnsAnswer<MxRecord>> {
    return this.ask(`MX ${name}`, () => this.resolver.resolveMx(name));
  }
  ptr(ip: string): Promise<DnsAnswer<string>> {
    return this.ask(`PTR ${ip}`, () => this.resolver.reverse(ip));
  }
}
