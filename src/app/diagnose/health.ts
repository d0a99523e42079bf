/**
 * Is the distributor doing its job, and what has been failing lately? Both read the database only,
 * through the store's ports (DiagnosisReads for what only diagnose asks).
 */
import { catalogueEntry, DIAGNOSIS_IDS, type DiagnosisId } from '../../core/diagnosis/index.js';
import type { Store } from '../../store/ports.js';
import { runView, type RunView } from '../queue.js';
import { fail, pass, warn, type Check } from './types.js';

/** Due messages older than this with no distributor run since mean nobody runs `queue run`. */
export const STALE_QUEUE_MS = 10 * 60_000;
export const RECENT_FAILURES_MS = 24 * 3_600_000;
export const CRON_LINE = '* * * * * sysemail queue run --quiet';

export interface HealthOptions {
  store: Store;
  now: number;
  host: string;
  /** Is this process alive? Tells a running `queue run --watch` from a dead one on this host. */
  isPidAlive: (pid: number) => boolean;
}

const minutes = (ms: number) => `${Math.round(ms / 60_000)} min`;

function isDiagnosisId(id: string | null): id is DiagnosisId {
  return id !== null && (DIAGNOSIS_IDS as readonly string[]).includes(id);
}

async function lastRunOf(o: HealthOptions): Promise<RunView | null> {
  return runView(o.store, await o.store.runs.lastRun(), { host: o.host, isPidAlive: o.isPidAlive });
}

function diedText(r: RunView): string {
  return `the last distributor run (started ${r.startedAt} on ${r.host}, pid ${r.pid}) ended abnormally: ${
    r.diedBecause === 'silent' ? `no sign of life since ${r.lastSeenAt}` : 'its process is gone without ending the run'
  }`;
}

const DIED_FIX =
  'Find out why it stopped (killed, out of memory, the machine went down): see the system log (`journalctl`, cron mail); the next `sysemail queue run` takes back the messages it held';

export async function distributorCheck(o: HealthOptions): Promise<Check> {
  const ageSec = await o.store.messages.oldestDueAgeSec(o.now);
  const due = await o.store.messages.dueCount(o.now);
  const last = await lastRunOf(o);
  const lastSeen = last
    ? Math.max(Date.parse(last.startedAt), last.endedAt ? Date.parse(last.endedAt) : 0, last.lastSeenAt ? Date.parse(last.lastSeenAt) : 0)
    : null;
  const stateText = last
    ? { running: ', still running', finished: '', stopped: `, stopped by ${last.error?.code ?? 'an error'}`, died: ', ended abnormally' }[
        last.state
      ]
    : '';
  const lastText = last ? `last run ${last.startedAt} on ${last.host} (pid ${last.pid})${stateText}` : 'no distributor run recorded';
  const stale = ageSec !== null && ageSec * 1000 > STALE_QUEUE_MS;
  if (!stale && last?.state === 'died') {
    return warn(
      'distributor',
      `${diedText(last)}; ${due} message(s) due${ageSec !== null ? `, the oldest for ${ageSec} s` : ''}`,
      DIED_FIX,
    );
  }
  if (ageSec === null || !stale) {
    return pass('distributor', `${due} message(s) due${ageSec !== null ? `, the oldest for ${ageSec} s` : ''}; ${lastText}`);
  }
  const stuckSince = `${due} message(s) have been due for up to ${minutes(ageSec * 1000)}`;
  const watching = last?.state === 'running' && last.host === o.host;
  if (watching) {
    return warn(
      'distributor',
      `${stuckSince}, and the distributor started ${new Date(last.startedAt).toISOString()} (pid ${last.pid}) is still running`,
      'It may be stuck or stopped by an account-wide failure: see `sysemail queue status` and `sysemail history --failed --since 1h`; restart it if it hangs',
    );
  }
  if (lastSeen === null || o.now - lastSeen > STALE_QUEUE_MS) {
    if (last?.state === 'died')
      return fail(
        'distributor',
        `${stuckSince} with no distributor run since ${diedText(last)}. Is the distributor scheduled?`,
        `${DIED_FIX}; schedule it, e.g. with \`crontab -e\` and the line: ${CRON_LINE}`,
      );
    return fail(
      'distributor',
      `${stuckSince} with no distributor run in that time; ${lastText}. Is the distributor scheduled?`,
      `Schedule it, e.g. with \`crontab -e\` and the line: ${CRON_LINE} (or run \`sysemail queue run --watch\` as a service)`,
    );
  }
  return warn(
    'distributor',
    `${stuckSince} although the distributor ran recently (${lastText})`,
    'The runs are not getting through: see `sysemail queue status` and `sysemail history --failed --since 1h`',
  );
}

export async function leaseCheck(o: HealthOptions): Promise<Check> {
  const last = await lastRunOf(o);
  if (last?.state === 'died' && last.leasedMessages > 0) {
    return warn(
      'distributor.leases',
      `${last.leasedMessages} message(s) in sending are still leased by the distributor that died (${last.owner}), until ${last.leasesExpireAt}`,
      `The next \`sysemail queue run\` takes them back${last.diedBecause === 'process gone' ? ' at once on this host' : ' once those leases run out'} and sends them; if none is scheduled, schedule it (${CRON_LINE})`,
    );
  }
  const leases = await o.store.diagnosis.expiredLeases();
  if (leases.count === 0) return pass('distributor.leases', 'no message is stuck in sending');
  const dbNow = await o.store.messages.dbNow();
  const since = leases.oldestExpiredAt !== null ? ` (the oldest lease expired ${minutes(dbNow - leases.oldestExpiredAt)} ago)` : '';
  return warn(
    'distributor.leases',
    `${leases.count} message(s) in sending with an expired lease${since}, held by ${leases.owners.join(', ') || 'nobody'}: a distributor died mid-send`,
    'The next `sysemail queue run` takes them back and retries them; if none is scheduled, schedule it (' + CRON_LINE + ')',
  );
}

/** One check per diagnosis seen in the last 24 hours, biggest first; a single pass when there were none. */
export async function recentFailureChecks(o: HealthOptions): Promise<Check[]> {
  const groups = await o.store.diagnosis.failuresSince(o.now - RECENT_FAILURES_MS);
  if (groups.length === 0) return [pass('failures', 'no failed attempt in the last 24 hours')];
  return groups.map((g) => {
    const words = g.lastFailure?.response?.replace(/\s+/g, ' ').slice(0, 200);
    const counted = `${g.count} failed attempt(s) for ${g.messages} message(s) in the last 24 hours, the last ${new Date(g.lastAt).toISOString()}${words ? `: ${words}` : ''}`;
    if (isDiagnosisId(g.diagnosis)) {
      const entry = catalogueEntry(g.diagnosis);
      return warn(`failures.${g.diagnosis}`, `${entry.title}: ${counted}`, entry.fix, g.diagnosis);
    }
    return warn(
      'failures.unknown',
      `not matched by any known cause: ${counted}`,
      'Run `sysemail history --failed --since 24h` and `sysemail diagnose --history ID` for the details',
    );
  });
}

/** Which database the queue is in: what an admin checks first on a host that shares one. */
export async function databaseCheck(store: Store): Promise<Check> {
  const d = await store.describe();
  return pass('database', `${d.backend === 'sqlite' ? 'SQLite' : 'PostgreSQL'} ${d.version}, ${d.location}`);
}

/**
 * On a database several hosts share: each host's last run and the leases it holds now. A host whose
 * last run died still holding leases is worth a look (its messages wait for those leases to run out).
 */
export async function hostsCheck(o: HealthOptions): Promise<Check[]> {
  const [{ hostViews, hostLine }, d] = await Promise.all([import('../hosts.js'), o.store.describe()]);
  const hosts = await hostViews(o.store, { host: o.host, isPidAlive: o.isPidAlive });
  if (hosts.length === 0 || (hosts.length === 1 && d.backend === 'sqlite')) return [];
  const detail = hosts.map(hostLine).join('; ');
  const dead = hosts.filter((h) => h.lastRun?.state === 'died' && h.leasedMessages > 0);
  if (dead.length > 0)
    return [
      warn(
        'distributor.hosts',
        detail,
        `The distributor of ${dead.map((h) => h.host).join(', ')} died holding leases: its messages go to another host once the leases run out; find out why it stopped there`,
      ),
    ];
  return [pass('distributor.hosts', detail)];
}

export async function healthChecks(o: HealthOptions): Promise<Check[]> {
  return [
    await databaseCheck(o.store),
    await distributorCheck(o),
    await leaseCheck(o),
    ...(await hostsCheck(o)),
    ...(await recentFailureChecks(o)),
  ];
}
