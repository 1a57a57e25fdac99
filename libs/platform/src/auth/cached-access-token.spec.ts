import { ServiceAuthError } from './service-token';
import type { AccessTokenVerifier } from './access-token';
import type { Principal } from './principal';
import { CachingAccessTokenVerifier } from './cached-access-token';

/** An unsigned JWT-shaped token with `exp` (seconds): the fake verifier below decides what it proves. */
const token = (sub: string, exp: number): string =>
  [
    Buffer.from(JSON.stringify({ alg: 'RS256' })).toString('base64url'),
    Buffer.from(JSON.stringify({ sub, exp })).toString('base64url'),
    'signature',
  ].join('.');

/** Counts calls; refuses tokens whose subject starts with `bad`, or once `now` passed their `exp`. */
class CountingVerifier implements AccessTokenVerifier {
  calls = 0;
  constructor(private readonly now: () => number) {}

  verify(text: string): Promise<Principal> {
    this.calls += 1;
    const { sub, exp } = JSON.parse(Buffer.from(text.split('.')[1] ?? '', 'base64url').toString()) as {
      sub: string;
      exp: number;
    };
    if (sub.startsWith('bad')) return Promise.reject(new ServiceAuthError(401, 'bad token signature'));
    if (this.now() >= exp * 1000) return Promise.reject(new ServiceAuthError(401, 'token expired'));
    return Promise.resolve({ kind: 'user', id: sub, role: 'clinician', scopes: ['user/*.cruds'] });
  }
}

describe('CachingAccessTokenVerifier', () => {
  let now: number;
  let inner: CountingVerifier;
  let cache: CachingAccessTokenVerifier;

  beforeEach(() => {
    now = 1_000_000_000_000;
    inner = new CountingVerifier(() => now);
    cache = new CachingAccessTokenVerifier(inner, 2, () => now);
  });

  it('verifies a token once and answers it from memory until its exp, then asks the verifier again', async () => {
    const exp = now / 1000 + 60;
    const alice = token('alice', exp);
    expect((await cache.verify(alice)).id).toBe('alice');
    expect((await cache.verify(alice)).id).toBe('alice');
    expect(inner.calls).toBe(1);
    now = exp * 1000;
    await expect(cache.verify(alice)).rejects.toThrow('token expired');
    expect(inner.calls).toBe(2);
    expect(cache.size).toBe(0);
  });

  it('never caches a refused token', async () => {
    const forged = token('bad-mallory', now / 1000 + 60);
    await expect(cache.verify(forged)).rejects.toThrow('bad token signature');
    await expect(cache.verify(forged)).rejects.toThrow('bad token signature');
    expect(inner.calls).toBe(2);
    expect(cache.size).toBe(0);
  });

  it('answers each request with its own copy: break-the-glass on one does not reach the next', async () => {
    const alice = token('alice', now / 1000 + 60);
    const first = await cache.verify(alice);
    first.breakTheGlass = { reason: 'unconscious patient' };
    const second = await cache.verify(alice);
    expect(second.breakTheGlass).toBeUndefined();
    const third = await cache.verify(alice);
    expect(third).not.toBe(second);
    expect(third.breakTheGlass).toBeUndefined();
  });

  it('holds at most maxEntries, dropping the least recently used', async () => {
    const exp = now / 1000 + 60;
    const [a, b, c] = [token('a', exp), token('b', exp), token('c', exp)];
    await cache.verify(a);
    await cache.verify(b);
    await cache.verify(a); // a is now more recent than b
    await cache.verify(c); // b leaves
    expect(cache.size).toBe(2);
    expect(inner.calls).toBe(3);
    await cache.verify(a);
    expect(inner.calls).toBe(3);
    await cache.verify(b);
    expect(inner.calls).toBe(4);
  });
});
