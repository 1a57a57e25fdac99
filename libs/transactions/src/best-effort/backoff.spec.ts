import fc from 'fast-check';
import { assertBackoffPolicy, BackoffPolicy, backoffBounds, nextDelay } from './backoff';

const policy: fc.Arbitrary<BackoffPolicy> = fc
  .record({
    baseDelayMs: fc.integer({ min: 1, max: 10_000 }),
    capFactor: fc.integer({ min: 1, max: 1_000 }),
    jitter: fc.constantFrom('full' as const, 'decorrelated' as const),
  })
  .map(({ baseDelayMs, capFactor, jitter }) => ({
    baseDelayMs,
    maxDelayMs: baseDelayMs * capFactor,
    jitter,
  }));

const draw = fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true });

describe('best-effort back-off', () => {
  it('full jitter: the first retry waits up to the base, each bound doubles, capped', () => {
    const full: BackoffPolicy = { baseDelayMs: 100, maxDelayMs: 1_000, jitter: 'full' };
    expect([1, 2, 3, 4, 5, 50].map((n) => backoffBounds(n, full))).toEqual([
      { minMs: 0, maxMs: 100 },
      { minMs: 0, maxMs: 200 },
      { minMs: 0, maxMs: 400 },
      { minMs: 0, maxMs: 800 },
      { minMs: 0, maxMs: 1_000 },
      { minMs: 0, maxMs: 1_000 },
    ]);
  });

  it('decorrelated jitter: never below the base, bounds triple, capped', () => {
    const decorrelated: BackoffPolicy = { baseDelayMs: 100, maxDelayMs: 2_000, jitter: 'decorrelated' };
    expect([1, 2, 3, 4].map((n) => backoffBounds(n, decorrelated))).toEqual([
      { minMs: 100, maxMs: 300 },
      { minMs: 100, maxMs: 900 },
      { minMs: 100, maxMs: 2_000 },
      { minMs: 100, maxMs: 2_000 },
    ]);
  });

  it('draws span the whole range: 0 gives the least delay, just under 1 the most', () => {
    const full: BackoffPolicy = { baseDelayMs: 100, maxDelayMs: 1_000, jitter: 'full' };
    expect(nextDelay(3, full, undefined, () => 0)).toBe(0);
    expect(nextDelay(3, full, undefined, () => 0.999_999)).toBe(400);
    const decorrelated: BackoffPolicy = { ...full, jitter: 'decorrelated' };
    expect(nextDelay(1, decorrelated, undefined, () => 0)).toBe(100);
    expect(nextDelay(1, decorrelated, undefined, () => 0.999_999)).toBe(300);
    // Grows from the delay before: three times 250 ms, not the attempt's bound (900 ms).
    expect(nextDelay(2, decorrelated, 250, () => 0.999_999)).toBe(750);
  });

  it('bounds are non-decreasing in the attempt and never above the cap (property)', () => {
    fc.assert(
      fc.property(policy, fc.integer({ min: 1, max: 200 }), (p, n) => {
        const here = backoffBounds(n, p);
        const next = backoffBounds(n + 1, p);
        expect(here.minMs).toBeLessThanOrEqual(here.maxMs);
        expect(next.minMs).toBeGreaterThanOrEqual(here.minMs);
        expect(next.maxMs).toBeGreaterThanOrEqual(here.maxMs);
        expect(here.maxMs).toBeLessThanOrEqual(p.maxDelayMs);
        expect(Number.isFinite(here.maxMs)).toBe(true);
      }),
    );
  });

  it('every delay is a whole number of ms within its bounds, whatever the draw and the delay before (property)', () => {
    fc.assert(
      fc.property(
        policy,
        fc.integer({ min: 1, max: 60 }),
        fc.option(fc.nat(10_000_000)),
        draw,
        (p, n, prev, r) => {
          const delay = nextDelay(n, p, prev ?? undefined, () => r);
          const { minMs, maxMs } = backoffBounds(n, p);
          expect(Number.isInteger(delay)).toBe(true);
          expect(delay).toBeGreaterThanOrEqual(minMs);
          expect(delay).toBeLessThanOrEqual(maxMs);
          if (p.jitter === 'decorrelated')
            expect(delay).toBeLessThanOrEqual(3 * Math.max(p.baseDelayMs, prev ?? p.baseDelayMs));
        },
      ),
    );
  });

  it('a chain of decorrelated delays stays within each attempt’s bounds (property)', () => {
    fc.assert(
      fc.property(policy, fc.array(draw, { minLength: 1, maxLength: 40 }), (p, draws) => {
        let previous: number | undefined;
        draws.forEach((r, i) => {
          const delay = nextDelay(i + 1, { ...p, jitter: 'decorrelated' }, previous, () => r);
          const { minMs, maxMs } = backoffBounds(i + 1, { ...p, jitter: 'decorrelated' });
          expect(delay).toBeGreaterThanOrEqual(minMs);
          expect(delay).toBeLessThanOrEqual(maxMs);
          previous = delay;
        });
      }),
    );
  });

  it('refuses policies no schedule can follow', () => {
    expect(() => assertBackoffPolicy({ baseDelayMs: 0, maxDelayMs: 10, jitter: 'full' })).toThrow(
      /baseDelayMs/,
    );
    expect(() => assertBackoffPolicy({ baseDelayMs: 100, maxDelayMs: 50, jitter: 'full' })).toThrow(
      /maxDelayMs/,
    );
    expect(() => assertBackoffPolicy({ baseDelayMs: 1.5, maxDelayMs: 50, jitter: 'full' })).toThrow(
      /baseDelayMs/,
    );
    expect(() =>
      assertBackoffPolicy({ baseDelayMs: 1, maxDelayMs: 50, jitter: 'equal' as BackoffPolicy['jitter'] }),
    ).toThrow(/jitter/);
    expect(() =>
      assertBackoffPolicy({ baseDelayMs: 1, maxDelayMs: 1, jitter: 'decorrelated' }),
    ).not.toThrow();
  });
});
