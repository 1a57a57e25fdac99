import { randomUUID } from 'node:crypto';
import { Database, SqlExecutor } from '@hospital/platform';
import { LendAsk, PendingLend, QuotaLedger, QuotaReservation } from '../../ports/quota-cache.ports';
import { PostgresCapacityLedger } from './postgres-capacity-ledger';

interface LiveEpochRow {
  resource: string;
  epoch: string;
  /** False while the lend that starts the epoch is on its way to the cache. */
  created: boolean;
}

interface PendingRow {
  op_id: string;
  resource: string;
  epoch: string;
  units: number;
  creates: boolean;
}

const toPending = (r: PendingRow): PendingLend => ({
  opId: r.op_id,
  resource: r.resource,
  epoch: r.epoch,
  units: r.units,
  create: r.creates,
});

/** Locks the resources' capacity rows in one order (every writer does, so they never deadlock). */
async function lockCapacity(tx: SqlExecutor, resources: readonly string[]) {
  const rows = await tx.query<{ resource: string; available: number }>(
    `SELECT resource, capacity - taken - held - lent AS available FROM tx_capacity
      WHERE resource = ANY($1) ORDER BY resource FOR UPDATE`,
    [[...new Set(resources)]],
  );
  return new Map(rows.map((r) => [r.resource, r.available]));
}

/**
 * The quota cache's main-database side, over the participant's `tx_capacity` and `tx_capacity_claim`
 * (capacity migrations) and `tx_quota_epoch` / `tx_quota_op` (`quotaLedgerMigrations`). Units lent to the
 * cache are counted in `tx_capacity.lent`, so the main database never offers them to anyone else.
 */
export class PostgresQuotaLedger implements QuotaLedger<SqlExecutor> {
  private readonly capacity = new PostgresCapacityLedger();

  constructor(private readonly db: Database) {}

  lend(
    asks: readonly LendAsk[],
  ): Promise<{ lent: PendingLend[]; suspects: { resource: string; epoch: string }[]; waiting: boolean }> {
    if (asks.length === 0) return Promise.resolve({ lent: [], suspects: [], waiting: false });
    return this.db.transaction(async (tx) => {
      const available = await lockCapacity(
        tx,
        asks.map((a) => a.resource),
      );
      const live = await tx.query<LiveEpochRow>(
        `SELECT e.resource, e.epoch, coalesce(o.state <> 'pending', true) AS created
           FROM tx_quota_epoch e LEFT JOIN tx_quota_op o ON o.op_id = e.create_op
          WHERE e.resource = ANY($1) AND e.state = 'live'`,
        [asks.map((a) => a.resource)],
      );
      const liveOf = new Map(live.map((l) => [l.resource, l]));
      const lent: PendingLend[] = [];
      const suspects: { resource: string; epoch: string }[] = [];
      let waiting = false;
      for (const ask of asks) {
        const free = available.get(ask.resource);
        if (free === undefined) continue;
        const current = liveOf.get(ask.resource);
        if (current && current.epoch !== ask.cacheEpoch) {
          // The cache did not show the live epoch: its first lend is still on its way (wait for it), or
          // the caller looked early, or the cache lost it (a suspect, looked at again by the caller).
          if (current.created) suspects.push({ resource: ask.resource, epoch: current.epoch });
          else waiting = true;
          continue;
        }
        const units = Math.min(ask.want, free);
        if (units <= 0 || units < (ask.need ?? 1)) continue;
        const opId = randomUUID();
        // Only the lend that starts an epoch may create it in the cache: no other can bring back an
        // epoch the cache lost.
        const create = current === undefined;
        const epoch = current?.epoch ?? randomUUID();
        if (create)
          await tx.query(
            `INSERT INTO tx_quota_epoch (resource, epoch, lent, create_op) VALUES ($1, $2, $3, $4)`,
            [ask.resource, epoch, units, opId],
          );
        else
          await tx.query(`UPDATE tx_quota_epoch SET lent = lent + $3 WHERE resource = $1 AND epoch = $2`, [
            ask.resource,
            epoch,
            units,
          ]);
        await tx.query(`UPDATE tx_capacity SET lent = lent + $2 WHERE resource = $1`, [ask.resource, units]);
        await tx.query(
          `INSERT INTO tx_quota_op (op_id, kind, resource, epoch, units, creates, state)
           VALUES ($1, 'lend', $2, $3, $4, $5, 'pending')`,
          [opId, ask.resource, epoch, units, create],
        );
        available.set(ask.resource, free - units);
        if (create) liveOf.set(ask.resource, { resource: ask.resource, epoch, created: false });
        // With no live epoch here, whatever epoch the cache shows is stale: the create replaces it.
        const replaces = create ? ask.cacheEpoch : undefined;
        lent.push({ opId, resource: ask.resource, epoch, units, create, ...(replaces ? { replaces } : {}) });
      }
      return { lent, suspects, waiting };
    });
  }

  async markLost(resource: string, epoch: string): Promise<void> {
    await this.db.query(
      `UPDATE tx_quota_epoch SET state = 'lost', lost_at = now()
        WHERE resource = $1 AND epoch = $2 AND state = 'live'`,
      [resource, epoch],
    );
  }

  async finishLend(opIds: readonly string[], refused: readonly string[]): Promise<void> {
    if (opIds.length === 0) return;
    await this.db.transaction(async (tx) => {
      const back = await tx.query<{ resource: string; epoch: string; units: number }>(
        `SELECT resource, epoch, units FROM tx_quota_op WHERE op_id = ANY($1) AND state = 'pending'`,
        [refused],
      );
      if (back.length > 0)
        await lockCapacity(
          tx,
          back.map((b) => b.resource),
        );
      for (const b of back) {
        await tx.query(`UPDATE tx_capacity SET lent = lent - $2 WHERE resource = $1`, [b.resource, b.units]);
        await tx.query(`UPDATE tx_quota_epoch SET lent = lent - $3 WHERE resource = $1 AND epoch = $2`, [
          b.resource,
          b.epoch,
          b.units,
        ]);
      }
      await tx.query(
        `UPDATE tx_quota_op SET state = CASE WHEN op_id = ANY($2) THEN 'refused' ELSE 'done' END
          WHERE op_id = ANY($1) AND state = 'pending'`,
        [opIds, refused],
      );
    });
  }

  async pendingLends(olderThanMs: number, limit: number): Promise<PendingLend[]> {
    const rows = await this.db.query<PendingRow>(
      `SELECT o.op_id, o.resource, o.epoch, o.units, o.creates
         FROM tx_quota_op o JOIN tx_quota_epoch e ON e.resource = o.resource AND e.epoch = o.epoch
        WHERE o.state = 'pending' AND o.kind = 'lend' AND e.state = 'live'
          AND o.created_at < now() - $1 * interval '1 millisecond'
        ORDER BY o.created_at LIMIT $2`,
      [olderThanMs, limit],
    );
    return rows.map(toPending);
  }

  async applyReclaim(opId: string, resource: string, epoch: string, units: number): Promise<void> {
    await this.db.transaction(async (tx) => {
      await lockCapacity(tx, [resource]);
      const fresh = await tx.query(
        `INSERT INTO tx_quota_op (op_id, kind, resource, epoch, units, state)
         VALUES ($1, 'reclaim', $2, $3, $4, 'done') ON CONFLICT (op_id) DO NOTHING RETURNING 1`,
        [opId, resource, epoch, units],
      );
      if (fresh.length === 0 || units === 0) return;
      await tx.query(`UPDATE tx_capacity SET lent = lent - $2 WHERE resource = $1`, [resource, units]);
      await tx.query(
        `UPDATE tx_quota_epoch SET reclaimed = reclaimed + $3 WHERE resource = $1 AND epoch = $2`,
        [resource, epoch, units],
      );
    });
  }

  async applyCompleted(tx: SqlExecutor, reservations: readonly QuotaReservation[]): Promise<string[]> {
    if (reservations.length === 0) return [];
    await lockCapacity(
      tx,
      reservations.map((r) => r.resource),
    );
    const seen = await tx.query<{ key: string }>('SELECT key FROM tx_capacity_claim WHERE key = ANY($1)', [
      reservations.map((r) => r.key),
    ]);
    const fresh = reservations.filter((r) => !seen.some((s) => s.key === r.key));
    for (const r of fresh) {
      // Units of a live or lost epoch are still lent. A closed epoch gave them back: they are lent again
      // from what is available, so the claim below can take them (refused if that would oversell).
      const open = await tx.query(
        `UPDATE tx_quota_epoch SET consumed = consumed + $3
          WHERE resource = $1 AND epoch = $2 AND state <> 'closed' RETURNING 1`,
        [r.resource, r.epoch, r.units],
      );
      if (open.length === 0) await this.capacity.lend(tx, r.resource, r.units);
    }
    return (await this.capacity.applyQuotaClaims(tx, reservations)).applied;
  }

  async applied(keys: readonly string[]): Promise<Set<string>> {
    if (keys.length === 0) return new Set();
    const rows = await this.db.query<{ key: string }>(
      `SELECT key FROM tx_capacity_claim WHERE key = ANY($1) AND state = 'applied'`,
      [keys],
    );
    return new Set(rows.map((r) => r.key));
  }

  /** True when the participant offers the resource. */
  async known(resource: string): Promise<boolean> {
    return (await this.db.query('SELECT 1 FROM tx_capacity WHERE resource = $1', [resource])).length === 1;
  }

  liveEpochs(): Promise<{ resource: string; epoch: string }[]> {
    return this.db.query(`SELECT resource, epoch FROM tx_quota_epoch WHERE state = 'live' ORDER BY resource`);
  }

  closeLostEpochs(graceMs: number): Promise<number> {
    return this.db.transaction(async (tx) => {
      const due = await tx.query<{ resource: string }>(
        `SELECT DISTINCT resource FROM tx_quota_epoch
          WHERE state = 'lost' AND lost_at < now() - $1 * interval '1 millisecond'`,
        [graceMs],
      );
      if (due.length === 0) return 0;
      await lockCapacity(
        tx,
        due.map((d) => d.resource),
      );
      const closed = await tx.query<{ resource: string; outstanding: number }>(
        `UPDATE tx_quota_epoch SET state = 'closed', closed_at = now()
          WHERE state = 'lost' AND lost_at < now() - $1 * interval '1 millisecond' AND resource = ANY($2)
          RETURNING resource, lent - consumed - reclaimed AS outstanding`,
        [graceMs, due.map((d) => d.resource)],
      );
      for (const c of closed)
        await tx.query(`UPDATE tx_capacity SET lent = lent - $2 WHERE resource = $1`, [
          c.resource,
          c.outstanding,
        ]);
      return closed.length;
    });
  }
}
