/** Time and waiting, as a port, so protocol cores run under simulated time in property tests. */
export interface Clock {
  now(): number;
  sleep(ms: number): Promise<void>;
}

export const systemClock: Clock = {
  now: () => Date.now(),
  sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
};

/** Exponential back-off with full jitter, capped: attempt 0 waits up to `baseMs`. */
export function backoffDelay(
  attempt: number,
  baseMs: number,
  maxMs: number,
  random: () => number = Math.random,
): number {
  const ceiling = Math.min(maxMs, baseMs * 2 ** Math.min(attempt, 30));
  return Math.floor(random() * ceiling);
}

/** Rejects with a TimeoutError when `promise` does not settle within `ms`. */
export class TimeoutError extends Error {
  constructor(what: string, ms: number) {
    super(`${what} timed out after ${ms} ms`);
  }
}

export async function withTimeout<T>(
  promise: Promise<T>,
  ms: number,
  what: string,
  clock: Clock = systemClock,
): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout =
    clock === systemClock
      ? new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new TimeoutError(what, ms)), ms);
        })
      : clock.sleep(ms).then(() => {
          throw new TimeoutError(what, ms);
        });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    if (timer) clearTimeout(timer);
  }
}
