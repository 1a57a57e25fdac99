import { createHash } from 'node:crypto';
import { decodeJwt } from 'jose';
import type { AccessTokenVerifier } from './access-token';
import type { Principal } from './principal';

interface Entry {
  principal: Principal;
  /** The token's `exp`, in milliseconds: the entry answers only before it. */
  expiresAt: number;
}

/**
 * A bounded cache in front of a user-token verifier, for a service that sees the same tokens many times a
 * second (the gateway): a token that verified once is answered from memory until its `exp` (no clock skew
 * allowance: an entry ends at `exp` sharp, after which the token goes back to the verifier, which says why
 * it is refused). Keyed by the token's SHA-256, never the token; least recently used entries leave first
 * once `maxEntries` are held. Refused tokens are never cached. Each answer is a fresh copy of the
 * principal, so what one request sets on it (break-the-glass) does not leak into the next.
 */
export class CachingAccessTokenVerifier implements AccessTokenVerifier {
  private readonly entries = new Map<string, Entry>();

  constructor(
    private readonly inner: AccessTokenVerifier,
    private readonly maxEntries: number,
    private readonly clock: () => number = Date.now,
  ) {}

  get size(): number {
    return this.entries.size;
  }

  async verify(token: string): Promise<Principal> {
    const key = createHash('sha256').update(token).digest('base64url');
    const hit = this.entries.get(key);
    if (hit !== undefined) {
      this.entries.delete(key);
      if (this.clock() < hit.expiresAt) {
        this.entries.set(key, hit); // most recently used last
        return { ...hit.principal };
      }
    }
    const principal = await this.inner.verify(token);
    // The verifier required `exp`; without a numeric one there is nothing to bound an entry by.
    const { exp } = decodeJwt(token);
    if (typeof exp === 'number' && this.maxEntries > 0) {
      this.entries.set(key, { principal: { ...principal }, expiresAt: exp * 1000 });
      if (this.entries.size > this.maxEntries) {
        const oldest = this.entries.keys().next();
        if (oldest.done !== true) this.entries.delete(oldest.value);
      }
    }
    return principal;
  }
}
