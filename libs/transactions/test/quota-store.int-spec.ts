import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { RedisQuotaStore } from '@hospital/transactions';

/**
 * The quota cache's Lua scripts on the real Redis: reservations never oversell however many clients race,
 * every operation is idempotent per key or operation id, a released, expired or settled key is refused for
 * good, and a cache that lost its data says so instead of inventing quota.
 */
jest.setTimeout(30_000);

describe('Redis quota store', () => {
  const prefix = `test:quota:${process.pid}:${randomUUID().slice(0, 8)}:`;
  let redis: Redis;
  let store: RedisQuotaStore;
  const now = 1_000_000;

  beforeAll(() => {
    redis = new Redis(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379', { lazyConnect: false });
    store = new RedisQuotaStore(redis, { prefix, tombstoneMs: 60_000 });
  });

  afterAll(async () => {
    const keys = await redis.keys(`${prefix}*`);
    if (keys.length > 0) await redis.del(...keys);
    redis.disconnect();
  });

  let resource: string;
  beforeEach(async () => {
    resource = `drug:${randomUUID().slice(0, 8)}@ward-3a`;
    expect(await store.lend(resource, 'e1', 'lend-1', 7, true, now)).toBe('lent');
  });

  const reserve = (key: string, units = 1, deadline = now + 10_000) =>
    store.reserve({ resource, key, gtid: key.split(':')[0], units, deadline, now });

  it('lets exactly the free units be reserved when a hundred clients race for them', async () => {
    const answers = await Promise.all(Array.from({ length: 100 }, (_, i) => reserve(`g${i}:stock`)));
    expect(answers.filter((a) => a.outcome === 'reserved')).toHaveLength(7);
    expect(answers.filter((a) => a.outcome === 'insufficient')).toHaveLength(93);
    expect(await store.level(resource)).toMatchObject({
      epoch: 'e1',
      available: 0,
      lent: 7,
      reservations: 7,
    });
  });

  it('answers a repeated reservation with the first one and takes nothing more', async () => {
    expect(await reserve('g1:stock', 3)).toEqual({ outcome: 'reserved', epoch: 'e1', units: 3 });
    expect(await reserve('g1:stock', 3)).toEqual({ outcome: 'reserved', epoch: 'e1', units: 3 });
    expect(await store.level(resource)).toMatchObject({ available: 4, reservations: 1 });
  });

  it('gives released units back once and refuses the key afterwards, even before it was reserved', async () => {
    await reserve('g1:stock', 5);
    expect(await store.release(resource, 'g1:stock', now)).toEqual({ outcome: 'released', units: 5 });
    expect(await store.release(resource, 'g1:stock', now)).toEqual({ outcome: 'already', state: 'released' });
    expect(await reserve('g1:stock', 5)).toEqual({ outcome: 'refused', state: 'released' });
    expect(await store.release(resource, 'g2:stock', now)).toEqual({ outcome: 'absent' });
    expect(await reserve('g2:stock', 1)).toEqual({ outcome: 'refused', state: 'released' });
    expect(await store.level(resource)).toMatchObject({ available: 7, lent: 7, reservations: 0 });
  });

  it('expires reservations not held by their deadline and keeps held ones', async () => {
    await reserve('g1:stock', 2, now + 100);
    await reserve('g2:stock', 3, now + 100);
    expect(await store.hold(resource, 'g2:stock', now)).toBe('held');
    expect(await store.expire(resource, now + 50, 100)).toEqual([]);
    expect(await store.expire(resource, now + 200, 100)).toEqual(['g1:stock']);
    expect(await store.hold(resource, 'g1:stock', now)).toBe('expired');
    expect(await reserve('g1:stock', 2)).toEqual({ outcome: 'refused', state: 'expired' });
    expect(await store.level(resource)).toMatchObject({ available: 4, lent: 7, reservations: 1 });
    expect(await store.held(resource, 10)).toEqual([{ key: 'g2:stock', epoch: 'e1' }]);
  });

  it('settles a held reservation once: its units leave the lent total', async () => {
    await reserve('g1:stock', 3);
    await store.hold(resource, 'g1:stock', now);
    expect(await store.settle(resource, 'g1:stock', 'e1', now)).toBe('settled');
    expect(await store.settle(resource, 'g1:stock', 'e1', now)).toBe('absent');
    expect(await store.level(resource)).toMatchObject({ available: 4, lent: 4, reservations: 0 });
    expect(await reserve('g1:stock', 3)).toEqual({ outcome: 'refused', state: 'settled' });
  });

  it('applies a lend once per operation and only under the epoch the cache holds', async () => {
    expect(await store.lend(resource, 'e1', 'lend-1', 7, true, now)).toBe('duplicate');
    expect(await store.lend(resource, 'e1', 'lend-2', 3, false, now)).toBe('lent');
    expect(await store.lend(resource, 'e2', 'lend-3', 3, true, now)).toBe('epoch-mismatch');
    expect(await store.level(resource)).toMatchObject({ epoch: 'e1', available: 10, lent: 10 });
  });

  it('reclaims free units once per operation and remembers them until the main database took them', async () => {
    await reserve('g1:stock', 5);
    expect(await store.reclaim(resource, 'e1', 'back-1', 10, now)).toBe(2);
    expect(await store.reclaim(resource, 'e1', 'back-1', 10, now)).toBe(2);
    expect(await store.reclaim(resource, 'e0', 'back-2', 10, now)).toBe('epoch-mismatch');
    expect(await store.pendingReclaims(resource)).toEqual([{ opId: 'back-1', units: 2 }]);
    await store.forgetReclaim(resource, 'back-1');
    expect(await store.pendingReclaims(resource)).toEqual([]);
    expect(await store.level(resource)).toMatchObject({ available: 0, lent: 5, reservations: 1 });
  });

  it('says it holds no quota after losing its data, and a stale lend cannot bring an epoch back', async () => {
    await reserve('g1:stock', 2);
    await redis.del(...store.keys(resource));
    expect(await reserve('g2:stock', 1)).toEqual({ outcome: 'no-quota' });
    expect(await store.level(resource)).toBeUndefined();
    expect(await store.lend(resource, 'e1', 'lend-2', 3, false, now)).toBe('epoch-mismatch');
    expect(await store.level(resource)).toBeUndefined();
    expect(await store.lend(resource, 'e2', 'lend-9', 4, true, now)).toBe('lent');
    expect(await store.level(resource)).toMatchObject({ epoch: 'e2', available: 4, lent: 4 });
  });

  it('lets a create replace only the stale epoch it names; the stale reservations keep their own epoch', async () => {
    await reserve('g1:stock', 2);
    expect(await store.lend(resource, 'e2', 'lend-9', 4, true, now)).toBe('epoch-mismatch');
    expect(await store.lend(resource, 'e2', 'lend-9', 4, true, now, 'e0')).toBe('epoch-mismatch');
    expect(await store.lend(resource, 'e2', 'lend-9', 4, false, now, 'e1')).toBe('epoch-mismatch');
    expect(await store.lend(resource, 'e2', 'lend-9', 4, true, now, 'e1')).toBe('lent');
    expect(await store.level(resource)).toMatchObject({ epoch: 'e2', available: 4, lent: 4 });
    // g1 was reserved in e1: releasing it gives nothing to e2.
    expect(await store.release(resource, 'g1:stock', now)).toEqual({ outcome: 'released', units: 2 });
    expect(await store.level(resource)).toMatchObject({ epoch: 'e2', available: 4 });
  });

  it('keeps every key of a resource in one cluster hash slot', () => {
    const tags = store.keys(resource).map((k) => k.slice(k.indexOf('{'), k.indexOf('}') + 1));
    expect(new Set(tags)).toEqual(new Set([`{${resource}}`]));
  });
});
