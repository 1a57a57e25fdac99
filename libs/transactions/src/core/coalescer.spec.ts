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
      64,
      1,
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
      3,
      1,
    );
    await Promise.all(Array.from({ length: 10 }, (_, i) => coalescer.submit(i)));
    expect(Math.max(...sizes)).toBeLessThanOrEqual(3);
    expect(sizes.reduce((a, b) => a + b, 0)).toBe(10);
  });
});
