/**
 * Per-client token buckets: each client (a token's subject, else its address) holds up to `burst`
 * tokens, refilled at `ratePerSecond`; a request takes one or is refused with the seconds until one is
 * back. The buckets live in this process: with several gateway replicas each enforces the limit on what
 * it sees (the limit a client meets is at most replicas × rate), which protects the backends without a
 * round trip to Redis on every request. At most `maxClients` buckets are kept, the least recently used
 * dropped first (a dropped client starts again with a full bucket), so a flood of addresses cannot grow
 * memory without bound.
 */
export class TokenBuckets {
  private readonly buckets = new Map<string, { tokens: number; at: number }>();

  constructor(
    private readonly ratePerSecond: number,
    private readonly burst: number,
    private readonly now: () => number = () => performance.now(),
    private readonly maxClients = 10_000,
  ) {}

  /** Takes a token for `client`: `{ allowed: true }`, or the whole seconds to wait before retrying. */
  take(client: string): { allowed: true } | { allowed: false; retryAfterSeconds: number } {
    const now = this.now();
    const previous = this.buckets.get(client);
    const refilled =
      previous === undefined
        ? this.burst
        : Math.min(this.burst, previous.tokens + ((now - previous.at) / 1000) * this.ratePerSecond);
    this.buckets.delete(client);
    if (refilled >= 1) {
      this.buckets.set(client, { tokens: refilled - 1, at: now });
      this.evict();
      return { allowed: true };
    }
    this.buckets.set(client, { tokens: refilled, at: now });
    this.evict();
    return { allowed: false, retryAfterSeconds: Math.max(1, Math.ceil((1 - refilled) / this.ratePerSecond)) };
  }

  get size(): number {
    return this.buckets.size;
  }

  private evict(): void {
    while (this.buckets.size > this.maxClients) {
      const oldest = this.buckets.keys().next().value;
      if (oldest === undefined) return;
      this.buckets.delete(oldest);
    }
  }
}
