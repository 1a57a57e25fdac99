import fc from 'fast-check';
import { GroupCommit, type GroupOutcome } from './group-commit';

/** Items: a number; "refused" ones are answered with an error by the group, "poison" ones fail any group. */
interface Item {
  n: number;
  refused: boolean;
  poison: boolean;
}

const tick = () => new Promise<void>((resolve) => setImmediate(resolve));

describe('GroupCommit', () => {
  it('settles every item once with its own outcome, within the size and concurrency bounds, under any arrival schedule', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(
          fc.record({
            refused: fc.boolean(),
            poison: fc.nat({ max: 4 }).map((n) => n === 0),
            /** Ticks to wait before submitting this item. */
            gap: fc.nat({ max: 3 }),
          }),
          { minLength: 1, maxLength: 60 },
        ),
        fc.integer({ min: 1, max: 8 }),
        fc.integer({ min: 1, max: 3 }),
        fc.array(fc.nat({ max: 3 }), { minLength: 1, maxLength: 10 }),
        async (arrivals, maxItems, maxGroups, groupTicks) => {
          let running = 0;
          let mostRunning = 0;
          const runs: number[][] = [];
          const committed: number[] = [];
          const commit = new GroupCommit<Item, number>({
            maxItems,
            maxGroups,
            run: async (items) => {
              running += 1;
              mostRunning = Math.max(mostRunning, running);
              runs.push(items.map((i) => i.n));
              try {
                for (let t = groupTicks[runs.length % groupTicks.length]; t > 0; t--) await tick();
                if (items.some((i) => i.poison)) throw new Error('the group fails');
                committed.push(...items.filter((i) => !i.refused).map((i) => i.n));
                return items.map((i): GroupOutcome<number> =>
                  i.refused ? { error: `refused ${i.n}` } : { value: i.n * 10 },
                );
              } finally {
                running -= 1;
              }
            },
          });
          const settled: Promise<unknown>[] = [];
          for (const [n, { refused, poison, gap }] of arrivals.entries()) {
            for (let t = gap; t > 0; t--) await tick();
            settled.push(
              commit.submit({ n, refused, poison }).then(
                (value) => ({ value }),
                (error: unknown) => ({ error }),
              ),
            );
          }
          const outcomes = await Promise.all(settled);

          outcomes.forEach((outcome, n) => {
            const { refused, poison } = arrivals[n];
            if (poison) expect(outcome).toEqual({ error: new Error('the group fails') });
            else if (refused) expect(outcome).toEqual({ error: `refused ${n}` });
            else expect(outcome).toEqual({ value: n * 10 });
          });
          // Each item that is neither refused nor poison committed exactly once, and no other did.
          expect([...committed].sort((a, b) => a - b)).toEqual(
            arrivals.flatMap((a, n) => (a.refused || a.poison ? [] : [n])),
          );
          expect(Math.max(...runs.map((r) => r.length))).toBeLessThanOrEqual(maxItems);
          expect(mostRunning).toBeLessThanOrEqual(maxGroups);
          // Items are taken in arrival order.
          expect(runs.flat().filter((n, i, all) => all.indexOf(n) === i)).toEqual(arrivals.map((_, n) => n));
          expect(commit.waiting).toBe(0);
        },
      ),
      { numRuns: 200 },
    );
  });

  it('gathers the items submitted while a group runs into the next group', async () => {
    const runs: number[][] = [];
    let release!: () => void;
    const first = new Promise<void>((resolve) => (release = resolve));
    const commit = new GroupCommit<number, number>({
      maxItems: 100,
      maxGroups: 1,
      run: async (items) => {
        runs.push([...items]);
        if (runs.length === 1) await first;
        return items.map((value) => ({ value }));
      },
    });
    const all = [1, 2, 3, 4].map((n) => commit.submit(n));
    expect(commit.waiting).toBe(3);
    release();
    expect(await Promise.all(all)).toEqual([1, 2, 3, 4]);
    expect(runs).toEqual([[1], [2, 3, 4]]);
  });

  it('refuses bounds below one', () => {
    expect(() => new GroupCommit({ maxItems: 0, maxGroups: 1, run: () => Promise.resolve([]) })).toThrow(
      RangeError,
    );
  });
});
