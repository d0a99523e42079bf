/**
 * IPv4 and IPv6 addresses as bytes, and CIDR matching: what SPF's ip4/ip6/a/mx mechanisms compare.
 * Written here (not node:net) because src/core does no I/O and needs no socket module.
 */

/** The 4 bytes of a dotted IPv4 address, or undefined when it is not one. */
export function ipv4Bytes(text: string): number[] | undefined {
  const parts = text.split('.');
  if (parts.length !== 4) return undefined;
  const out: number[] = [];
  for (const p of parts) {
    if (!/^\d{1,3}$/.test(p) || (p.length > 1 && p.startsWith('0'))) return undefined;
    const n = Number(p);
    if (n > 255) return undefined;
    out.push(n);
  }
  return out;
}

/** The 16 bytes of an IPv6 address (`::`, an embedded IPv4 tail allowed), or undefined. */
export function ipv6Bytes(text: string): number[] | undefined {
  if (!/^[0-9a-fA-F:.]+$/.test(text) || text.split('::').length > 2) return undefined;
  const [head, tail] = text.includes('::') ? text.split('::') : [text, undefined];
  const groups = (part: string): number[] | undefined => {
    if (part === '') return [];
    const out: number[] = [];
    const pieces = part.split(':');
    for (let i = 0; i < pieces.length; i++) {
      const p = pieces[i];
      if (i === pieces.length - 1 && p.includes('.')) {
        const v4 = ipv4Bytes(p);
        if (!v4) return undefined;
        out.push((v4[0] << 8) | v4[1], (v4[2] << 8) | v4[3]);
      } else if (/^[0-9a-fA-F]{1,4}$/.test(p)) out.push(parseInt(p, 16));
      else return undefined;
    }
    return out;
  };
  const h = groups(head);
  const t = tail === undefined ? [] : groups(tail);
  if (!h || !t) return undefined;
  const missing = 8 - h.length - t.length;
  if (tail === undefined ? missing !== 0 : missing < 1) return undefined;
  const all = [...h, ...Array<number>(tail === undefined ? 0 : missing).fill(0), ...t];
  return all.flatMap((g) => [g >> 8, g & 0xff]);
}

export type IpFamily = 4 | 6;

export function ipFamily(text: string): IpFamily | undefined {
  if (ipv4Bytes(text)) return 4;
  if (ipv6Bytes(text)) return 6;
  return undefined;
}

/** Whether `ip` lies in `network`/`prefix` (both of one family; an IPv4-mapped IPv6 address counts as IPv4). */
export function inNetwork(ip: string, network: string, prefix?: number): boolean {
  const a = bytesOf(ip);
  const b = bytesOf(network);
  if (!a || !b || a.length !== b.length) return false;
  const bits = prefix ?? a.length * 8;
  for (let i = 0; i < a.length; i++) {
    const take = Math.max(0, Math.min(8, bits - i * 8));
    if (take === 0) return true;
    const mask = (0xff << (8 - take)) & 0xff;
    if ((a[i] & mask) !== (b[i] & mask)) return false;
  }
  return true;
}

function bytesOf(ip: string): number[] | undefined {
  const v4 = ipv4Bytes(ip);
  if (v4) return v4;
  const v6 = ipv6Bytes(ip);
  // ::ffff:a.b.c.d compares as the IPv4 address it carries
  if (v6 && v6.slice(0, 10).every((x) => x === 0) && v6[10] === 0xff && v6[11] === 0xff) return v6.slice(12);
  return v6;
}

/** The reverse-DNS name of an address (4.3.2.1.in-addr.arpa, nibbles for IPv6). */
export function reverseName(ip: string): string | undefined {
  const v4 = ipv4Bytes(ip);
  if (v4) return `${[...v4].reverse().join('.')}.in-addr.arpa`;
  const v6 = ipv6Bytes(ip);
  if (!v6) return undefined;
  const nibbles = v6.flatMap((b) => [b >> 4, b & 0xf]).map((n) => n.toString(16));
  return `${nibbles.reverse().join('.')}.ip6.arpa`;
}
