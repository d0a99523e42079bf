/** Lease owners: who claimed a message, and whether that distributor is still alive. */

/** host:pid:random — unique per process, and tells a later run on the same host whether it died. */
export function newOwner(host: string, pid: number, random: string): string {
  return `${host}:${pid}:${random}`;
}

/** Lease owners that are distributors of this host whose process is gone. */
export function deadLocalOwners(owners: readonly string[], host: string, isPidAlive: (pid: number) => boolean): string[] {
  return owners.filter((o) => {
    const m = /^(.*):(\d+):[^:]+$/.exec(o);
    return !!m && m[1] === host && !isPidAlive(Number(m[2]));
  });
}

/**
 * Milliseconds since it was made, for lease bookkeeping: the larger of a monotonic clock (blind to the
 * wall clock being set) and the wall clock (the monotonic one stops while the machine is suspended), so
 * a frozen process and a suspended machine both count the time as gone. Never goes back.
 */
export function elapsedClock(monotonic: () => number = () => performance.now(), wall: () => number = () => Date.now()): () => number {
  const m0 = monotonic();
  const w0 = wall();
  let last = 0;
  return () => {
    last = Math.max(last, monotonic() - m0, wall() - w0);
    return last;
  };
}
