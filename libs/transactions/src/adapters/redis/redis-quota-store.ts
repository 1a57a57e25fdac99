import type { Redis } from 'ioredis';
import {
  LendAnswer,
  QuotaLevel,
  QuotaStore,
  QuotaTombstone,
  ReleaseAnswer,
  ReserveAnswer,
  ReserveRequest,
} from '../../ports/quota-cache.ports';
import { EXPIRE, HOLD, LEND, RECLAIM, RELEASE, RESERVE, SETTLE } from './quota-scripts';

type Arg = string | number;
type Command = (...args: Arg[]) => Promise<unknown>;

/** The scripts, registered on the connection with `defineCommand` (EVALSHA, loaded on first use). */
interface QuotaCommands {
  quotaReserve: Command;
  quotaRelease: Command;
  quotaHold: Command;
  quotaSettle: Command;
  quotaExpire: Command;
  quotaLend: Command;
  quotaReclaim: Command;
}

const SCRIPTS: Record<keyof QuotaCommands, string> = {
  quotaReserve: RESERVE,
  quotaRelease: RELEASE,
  quotaHold: HOLD,
  quotaSettle: SETTLE,
  quotaExpire: EXPIRE,
  quotaLend: LEND,
  quotaReclaim: RECLAIM,
};

const KEY_COUNT = 7;

export interface RedisQuotaStoreOptions {
  /** Prefix of every key (one per service and environment), e.g. `hospital:pharmacy:quota:`. */
  prefix: string;
  /** How long a released, expired or settled key stays refused (default 24 h). */
  tombstoneMs?: number;
}

/** The quota cache in Redis: each operation one Lua script over one resource's keys (see `quota-scripts`). */
export class RedisQuotaStore implements QuotaStore {
  private readonly redis: Redis & QuotaCommands;
  private readonly tombstoneMs: number;

  constructor(
    redis: Redis,
    private readonly options: RedisQuotaStoreOptions,
  ) {
    for (const [name, lua] of Object.entries(SCRIPTS))
      redis.defineCommand(name, { numberOfKeys: KEY_COUNT, lua });
    this.redis = redis as Redis & QuotaCommands;
    this.tombstoneMs = options.tombstoneMs ?? 24 * 3600_000;
  }

  /** The resource's keys, in the scripts' KEYS order, all in hash slot `{resource}`. */
  keys(resource: string): string[] {
    const base = `${this.options.prefix}{${resource}}:`;
    return ['meta', 'res', 'exp', 'tomb', 'tomb-at', 'ops', 'returns'].map((k) => base + k);
  }

  async reserve(r: ReserveRequest): Promise<ReserveAnswer> {
    const answer = (await this.redis.quotaReserve(
      ...this.keys(r.resource),
      r.key,
      r.units,
      r.deadline,
      r.gtid,
      r.now,
    )) as [string, ...(string | number)[]];
    switch (answer[0]) {
      case 'reserved':
        return { outcome: 'reserved', epoch: String(answer[1]), units: Number(answer[2]) };
      case 'insufficient':
        return { outcome: 'insufficient', available: Number(answer[1]), epoch: String(answer[2]) };
      case 'refused':
        return { outcome: 'refused', state: answer[1] as QuotaTombstone };
      default:
        return { outcome: 'no-quota' };
    }
  }

  async release(resource: string, key: string, now: number): Promise<ReleaseAnswer> {
    const answer = (await this.redis.quotaRelease(...this.keys(resource), key, now)) as [string, unknown?];
    if (answer[0] === 'released') return { outcome: 'released', units: Number(answer[1]) };
    if (answer[0] === 'already') return { outcome: 'already', state: answer[1] as QuotaTombstone };
    return { outcome: 'absent' };
  }

  async hold(resource: string, key: string, now: number): Promise<'held' | 'absent' | QuotaTombstone> {
    return (await this.redis.quotaHold(...this.keys(resource), key, now)) as
      'held' | 'absent' | QuotaTombstone;
  }

  async settle(resource: string, key: string, epoch: string, now: number): Promise<'settled' | 'absent'> {
    return (await this.redis.quotaSettle(...this.keys(resource), key, epoch, now)) as 'settled' | 'absent';
  }

  async expire(resource: string, now: number, limit: number): Promise<string[]> {
    return (await this.redis.quotaExpire(...this.keys(resource), now, limit, this.tombstoneMs)) as string[];
  }

  async lend(
    resource: string,
    epoch: string,
    opId: string,
    units: number,
    create: boolean,
    now: number,
    replaces?: string,
  ): Promise<LendAnswer> {
    return (await this.redis.quotaLend(
      ...this.keys(resource),
      epoch,
      opId,
      units,
      create ? 1 : 0,
      now,
      replaces ?? '',
    )) as LendAnswer;
  }

  async reclaim(
    resource: string,
    epoch: string,
    opId: string,
    max: number,
    now: number,
  ): Promise<number | 'epoch-mismatch'> {
    const units = Number(await this.redis.quotaReclaim(...this.keys(resource), epoch, opId, max, now));
    return units < 0 ? 'epoch-mismatch' : units;
  }

  async pendingReclaims(resource: string): Promise<{ opId: string; units: number }[]> {
    const all = await this.redis.hgetall(this.keys(resource)[6]);
    return Object.entries(all).map(([opId, units]) => ({ opId, units: Number(units) }));
  }

  async forgetReclaim(resource: string, opId: string): Promise<void> {
    await this.redis.hdel(this.keys(resource)[6], opId);
  }

  async held(resource: string, limit: number): Promise<{ key: string; epoch: string }[]> {
    const found: { key: string; epoch: string }[] = [];
    let cursor = '0';
    do {
      const [next, flat] = await this.redis.hscan(this.keys(resource)[1], cursor, 'COUNT', 500);
      for (let i = 0; i < flat.length && found.length < limit; i += 2) {
        const [state, , , , epoch] = flat[i + 1].split('|');
        if (state === 'held') found.push({ key: flat[i], epoch });
      }
      cursor = next;
    } while (cursor !== '0' && found.length < limit);
    return found;
  }

  async level(resource: string): Promise<QuotaLevel | undefined> {
    return (await this.levels([resource]))[0];
  }

  async levels(resources: readonly string[]): Promise<(QuotaLevel | undefined)[]> {
    if (resources.length === 0) return [];
    const pipeline = this.redis.pipeline();
    for (const resource of resources) {
      const [meta, res, , , , , returns] = this.keys(resource);
      pipeline.hmget(meta, 'epoch', 'available', 'lent', 'touched');
      pipeline.hlen(res);
      pipeline.hlen(returns);
    }
    const replies = (await pipeline.exec()) ?? [];
    return resources.map((_, i) => {
      const [metaError, meta] = replies[3 * i] as [Error | null, (string | null)[]];
      const [lenError, reservations] = replies[3 * i + 1] as [Error | null, number];
      const [returnsError, reclaims] = replies[3 * i + 2] as [Error | null, number];
      if (metaError) throw metaError;
      if (lenError) throw lenError;
      if (returnsError) throw returnsError;
      const [epoch, available, lent, touched] = meta;
      if (epoch === null) return undefined;
      return {
        epoch,
        available: Number(available),
        lent: Number(lent),
        reservations: Number(reservations),
        touched: Number(touched),
        pendingReclaims: Number(reclaims),
      };
    });
  }
}
