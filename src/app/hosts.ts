/**
 * The distributors per host, for a database several hosts share: each host's last run and the leases
 * its processes hold right now (lease owners are host:pid:random; a direct `send` holds one as
 * send:host:pid:random while it sends).
 */
import type { Store } from '../store/ports.js';
import { runView, type RunObserver, type RunView } from './queue.js';

export interface HostLease {
  owner: string;
  /** Messages in sending under this owner's leases. */
  messages: number;
  /** When the last of them runs out (database clock). */
  expiresAt: string | null;
}

export interface HostView {
  host: string;
  lastRun: RunView | null;
  /** Messages in sending under the leases of this host's processes. */
  leasedMessages: number;
  leases: HostLease[];
}

/** The host part of a lease owner. */
export function ownerHost(owner: string): string {
  const m = /^(?:send:)?(.*):\d+:[^:]+$/.exec(owner);
  return m ? m[1] : owner;
}

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

export async function hostViews(store: Store, who: RunObserver): Promise<HostView[]> {
  const byHost = new Map<string, HostView>();
  const of = (host: string) => {
    let h = byHost.get(host);
    if (!h) byHost.set(host, (h = { host, lastRun: null, leasedMessages: 0, leases: [] }));
    return h;
  };
  for (const r of await store.runs.lastRunPerHost()) of(r.host).lastRun = await runView(store, r, who);
  for (const owner of (await store.messages.leaseOwners()).sort()) {
    const held = await store.messages.heldBy(owner);
    if (held.count === 0) continue;
    const h = of(ownerHost(owner));
    h.leases.push({ owner, messages: held.count, expiresAt: iso(held.lastExpiresAt) });
    h.leasedMessages += held.count;
  }
  return [...byHost.values()];
}

/** One line per host, for `queue status` and `diagnose`. */
export function hostLine(h: HostView): string {
  const r = h.lastRun;
  const run = r
    ? `last run ${r.startedAt} (pid ${r.pid}, ${r.state}${r.state === 'died' && r.diedBecause ? `: ${r.diedBecause}` : ''}): sent ${r.sent}, deferred ${r.deferred}, failed ${r.failed}`
    : 'no distributor run recorded';
  const leases =
    h.leasedMessages === 0
      ? 'holds no lease'
      : `holds ${h.leasedMessages} message(s) under ${h.leases.length} lease owner(s), until ${h.leases
          .map((l) => l.expiresAt)
          .filter((x): x is string => x !== null)
          .sort()
          .pop()}`;
  return `${h.host}: ${run}; ${leases}`;
}
