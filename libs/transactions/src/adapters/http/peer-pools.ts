import { Pool } from 'undici';

/** The largest answer a peer call reads unless told otherwise: protocol answers are a few hundred bytes. */
export const DEFAULT_MAX_RESPONSE_BYTES = 1024 * 1024;

/** How the connections to peer services are made and kept. */
export interface PeerPoolOptions {
  /** Longest wait for a TCP (and TLS) connection to a peer. Default 3 s. */
  connectTimeoutMs?: number;
  /**
   * How long an idle connection is kept for the next call. Default 4 s: below the 5 s a Node server keeps
   * an idle connection (its `keepAliveTimeout`), so the client never sends on a socket the peer is closing.
   */
  keepAliveTimeoutMs?: number;
  /** Most connections open to one peer at once; calls beyond it queue. Default 128. */
  connections?: number;
  /** Largest answer read by a call that sets no cap of its own. Default {@link DEFAULT_MAX_RESPONSE_BYTES}. */
  maxResponseBytes?: number;
  /**
   * Certificate authorities trusted for `https` peers, in place of Node's bundled ones. Unset in services:
   * a hospital's own CA is added to Node's trust store with `NODE_EXTRA_CA_CERTS`.
   */
  ca?: string | Buffer | (string | Buffer)[];
}

/**
 * One keep-alive connection pool per peer origin (`http://lis:3002`, `https://pacs.example:443`). Protocol
 * calls are small and frequent (four per 2PC transaction, coalesced into batches), so a pool is made once
 * per origin and reused by every call to it; `close()` ends them all when the service stops.
 */
export class PeerPools {
  readonly maxResponseBytes: number;
  private readonly pools = new Map<string, Pool>();
  private readonly poolOptions: Pool.Options;

  constructor(options: PeerPoolOptions = {}) {
    this.maxResponseBytes = options.maxResponseBytes ?? DEFAULT_MAX_RESPONSE_BYTES;
    this.poolOptions = {
      connections: options.connections ?? 128,
      keepAliveTimeout: options.keepAliveTimeoutMs ?? 4_000,
      connect: {
        timeout: options.connectTimeoutMs ?? 3_000,
        ...(options.ca === undefined ? {} : { ca: options.ca }),
      },
    };
  }

  /** The pool of `origin` (scheme, host and port of a parsed URL), made at its first call. */
  for(origin: string): Pool {
    let pool = this.pools.get(origin);
    if (pool === undefined) {
      pool = new Pool(origin, this.poolOptions);
      this.pools.set(origin, pool);
    }
    return pool;
  }

  /**
   * Closes every pool: calls in flight finish (each within its own time-outs), idle connections end at
   * once. A call made afterwards opens a new pool, so a process running several services loses nothing.
   */
  async close(): Promise<void> {
    const pools = [...this.pools.values()];
    this.pools.clear();
    await Promise.all(pools.map((pool) => pool.close()));
  }
}

/** The pools `callPeer` uses unless a call names others. */
export const peerPools = new PeerPools();

/** Closes the shared peer pools; called when a service shuts down. */
export function closePeerPools(): Promise<void> {
  return peerPools.close();
}
