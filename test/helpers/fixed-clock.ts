import type { Clock } from '../../src/core/clock.js';

/** A clock that stands at one moment; sleeping moves it on instead of waiting. */
export function fixedClock(at: number): Clock & { at: number } {
  const clock = {
    at,
    now: () => clock.at,
    sleep: async (ms: number) => {
      clock.at += ms;
    },
  };
  return clock;
}
