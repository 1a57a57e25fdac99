import { Coalescer } from './coalescer';

describe('Coalescer', () => {
  it('sends a lone call at once and batches calls made while a batch is in flight', async () => {
    const batches: number[][] = [];
    let release: () => void = () => undefined;
    const coalescer = new Coalescer<number, number>(
      async (items) => {
        batches.push(items);
        if (batches.length === 1) await new Promise<void>((r) => (release = r));
        return items.map((i) => i * 10);
      },
      { maxInFlight: 1 },
    );
    const first = coalescer.submit(1);
    const rest = [coalescer.submit(2), coalescer.submit(3), coalescer.submit(4)];
    release();
    expect(await first).toBe(10);
    expect(await Promise.all(rest)).toEqual([20, 30, 40]);
    expect(batches).toEqual([[1], [2, 3, 4]]);
  });

  it('fails only the item the peer failed, and every item of a batch that failed as a whole', async () => {
    const perItem = new Coalescer<number, number>((items) =>
      Promise.resolve(items.map((i) => (i === 2 ? new Error('no') : i))),
    );
    await expect(perItem.submit(1)).resolves.toBe(1);
    await expect(perItem.submit(2)).rejects.toThrow('no');
    const whole = new Coalescer<number, number>(() => Promise.reject(new Error('down')));
    await expect(Promise.all([whole.submit(1), whole.submit(2)])).rejects.toThrow('down');
  });

  it('never sends more than maxBatch items in one batch', async () => {
    const sizes: number[] = [];
    const coalescer = new Coalescer<number, number>(
      async (items) => {
        sizes.push(items.length);
        await Promise.resolve();
        return items;
      },
      { maxBatch: 3, maxInFlight: 1 },
    );
    await Promise.all(Array.from({ length: 10 }, (_, i) => coalescer.submit(i)));
    expect(Math.max(...sizes)).toBeLessThanOrEqual(3);
    expect(sizes.reduce((a, b) => a + b, 0)).toBe(10);
  });

  it('lets calls queued behind a stalled batch leave on their own, and batches again once it answers', async () => {
    const batches: number[][] = [];
    let release: () => void = () => undefined;
    const coalescer = new Coalescer<number, number>(
      async (items) => {
        batches.push(items);
        // The first batch hangs (a peer waiting on a lock); the others answer at once.
        if (items.includes(1)) await new Promise<void>((r) => (release = r));
        return items;
      },
      { maxInFlight: 1, stallAfterMs: 30 },
    );
    const first = coalescer.submit(1);
    // Queued behind the hanging batch: they leave once it has stalled, without waiting for its answer
    // (together, unless the test itself was held up for longer than the stall between the two calls).
    await expect(Promise.all([coalescer.submit(2), coalescer.submit(3)])).resolves.toEqual([2, 3]);
    expect(batches[0]).toEqual([1]);
    expect(batches.slice(1).flat()).toEqual([2, 3]);
    release();
    await expect(first).resolves.toBe(1);
  });

  it('never has more than maxStalledInFlight batches out, however long they stall', async () => {
    const releases: (() => void)[] = [];
    let inFlight = 0;
    let most = 0;
    const coalescer = new Coalescer<number, number>(
      async (items) => {
        inFlight += 1;
        most = Math.max(most, inFlight);
        await new Promise<void>((r) => releases.push(r));
        inFlight -= 1;
        return items;
      },
      { maxInFlight: 1, stallAfterMs: 5, maxStalledInFlight: 3 },
    );
    const calls: Promise<number>[] = [];
    for (let i = 0; i < 6; i++) {
      calls.push(coalescer.submit(i));
      await new Promise((r) => setTimeout(r, 15));
    }
    expect(most).toBe(3);
    while (releases.length > 0) {
      releases.splice(0).forEach((release) => release());
      await new Promise((r) => setTimeout(r, 15));
    }
    await expect(Promise.all(calls)).resolves.toEqual([0, 1, 2, 3, 4, 5]);
  });
});
