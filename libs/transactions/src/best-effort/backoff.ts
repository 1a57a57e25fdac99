/**
 * The retry schedule of best-effort notification: exponential back-off with jitter, capped. Pure
 * functions; `random` returns numbers in [0, 1) (`Math.random`, or a seeded one in tests).
 *
 * After failed attempt n (1, 2, 3…) the next attempt waits
 *   - full jitter:         uniform in [0, min(maxDelayMs, baseDelayMs · 2^(n−1))]
 *   - decorrelated jitter: uniform in [baseDelayMs, min(maxDelayMs, 3 · previous delay)], where the delay
 *     before attempt 1 counts as `baseDelayMs` (so it never exceeds min(maxDelayMs, baseDelayMs · 3^n))
 * Full jitter spreads a burst of failures the most; decorrelated keeps a floor of `baseDelayMs` between
 * attempts while still growing. Both are never longer than `maxDelayMs`.
 */
export type Jitter = 'full' | 'decorrelated';

export interface BackoffPolicy {
  /** First delay's scale, in ms (the most the first retry waits under full jitter). */
  baseDelayMs: number;
  /** No delay is longer than this. */
  maxDelayMs: number;
  jitter: Jitter;
}

export interface DelayBounds {
  minMs: number;
  maxMs: number;
}

/** Growth per attempt of each jitter's upper bound, and the power it starts at for attempt 1. */
const GROWTH: Record<Jitter, { factor: number; first: number }> = {
  full: { factor: 2, first: 0 },
  decorrelated: { factor: 3, first: 1 },
};

/** Throws on a policy no schedule can follow (negative or non-integer delays, a cap below the base). */
export function assertBackoffPolicy(policy: BackoffPolicy): void {
  const { baseDelayMs, maxDelayMs, jitter } = policy;
  if (!Number.isInteger(baseDelayMs) || baseDelayMs < 1)
    throw new RangeError(`baseDelayMs must be a positive integer, not ${baseDelayMs}`);
  if (!Number.isInteger(maxDelayMs) || maxDelayMs < baseDelayMs)
    throw new RangeError(`maxDelayMs must be an integer of at least baseDelayMs, not ${maxDelayMs}`);
  if (!(jitter in GROWTH)) throw new RangeError(`jitter must be 'full' or 'decorrelated', not '${jitter}'`);
}

/**
 * The least and the most the delay after failed attempt `attempt` (1-based) may be, whatever the random
 * draws were. Both are non-decreasing in `attempt` and never above `maxDelayMs`.
 */
export function backoffBounds(attempt: number, policy: BackoffPolicy): DelayBounds {
  const n = Math.max(1, Math.floor(attempt));
  const { factor, first } = GROWTH[policy.jitter];
  // Past ~40 steps the cap has long been reached; stop there so the power stays finite.
  const ceiling = Math.min(policy.maxDelayMs, policy.baseDelayMs * factor ** Math.min(n - 1 + first, 40));
  return policy.jitter === 'full'
    ? { minMs: 0, maxMs: ceiling }
    : { minMs: policy.baseDelayMs, maxMs: ceiling };
}

/**
 * The delay before the attempt after failed attempt `attempt` (1-based), in whole milliseconds, within
 * `backoffBounds(attempt, policy)`. `previousDelayMs` (the delay scheduled after the attempt before) is
 * what decorrelated jitter grows from; full jitter ignores it.
 */
export function nextDelay(
  attempt: number,
  policy: BackoffPolicy,
  previousDelayMs: number | undefined,
  random: () => number = Math.random,
): number {
  const bounds = backoffBounds(attempt, policy);
  const draw = Math.min(Math.max(random(), 0), 1 - Number.EPSILON);
  if (policy.jitter === 'full') return Math.floor(draw * (bounds.maxMs + 1));
  // Decorrelated: from the base up to three times the previous delay (never past this attempt's bound, so
  // a previous delay from another policy, or a replayed notification's, cannot push it out).
  const previous = Math.max(policy.baseDelayMs, previousDelayMs ?? policy.baseDelayMs);
  const high = Math.min(bounds.maxMs, previous * 3);
  return bounds.minMs + Math.floor(draw * (high - bounds.minMs + 1));
}
