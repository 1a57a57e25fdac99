import { hotStatement, PgErrorCode, pgErrorCode, SqlExecutor } from '@hospital/platform';
import {
  BranchCancelledError,
  BranchSettledError,
  CapacityInUseError,
  ClaimMismatchError,
  ClaimReleasedError,
  InsufficientCapacityError,
  QuotaNotLentError,
  UnknownResourceError,
} from '../../capacity/errors';
import {
  assertApply,
  assertBranch,
  assertCapacity,
  assertLoan,
  assertRelease,
  assertResourceId,
  assertTry,
  branchKey,
  CapacityClaim,
  CapacityLedger,
  CapacityLevel,
  ClaimMode,
  ClaimState,
  QuotaClaim,
  QuotaClaimsApplied,
  SagaApplied,
  SagaApplyRequest,
  SagaReleased,
  SagaReleaseRequest,
  TccBranchRequest,
  TccHeld,
  TccSettled,
  TccTryRequest,
} from '../../capacity/types';
import { TccBarrier, TccBarrierViolationError } from '../../ports/tcc.ports';
import { PostgresTccBarrier } from './postgres-tcc-barrier';

interface ClaimRow {
  key: string;
  gtid: string;
  resource: string | null;
  units: number;
  mode: ClaimMode;
  state: ClaimState;
  created_at: Date;
  updated_at: Date;
}

const LEVEL = 'resource, capacity, taken, held, lent, available';
const CLAIM = 'key, gtid, resource, units, mode, state, created_at, updated_at';

const INSERT_CLAIM = hotStatement(
  `INSERT INTO tx_capacity_claim (key, gtid, resource, units, mode, state) VALUES ($1, $2, $3, $4, $5, $6)
     ON CONFLICT (key) DO NOTHING RETURNING 1`,
);
/** The conditional UPDATEs: the row lock orders racing writers, and each re-checks `available` on the row it locked. */
const TAKE = hotStatement(
  `UPDATE tx_capacity SET taken = taken + $2, updated_at = now()
     WHERE resource = $1 AND available >= $2 RETURNING 1`,
);
const HOLD = hotStatement(
  `UPDATE tx_capacity SET held = held + $2, updated_at = now()
     WHERE resource = $1 AND available >= $2 RETURNING 1`,
);
const SETTLE_CLAIM = hotStatement(
  `UPDATE tx_capacity_claim SET state = $2, updated_at = now()
     WHERE key = $1 AND state = $3 RETURNING resource, units`,
);

const claimOf = (row: ClaimRow): CapacityClaim => ({
  key: row.key,
  gtid: row.gtid,
  resource: row.resource,
  units: row.units,
  mode: row.mode,
  state: row.state,
  createdAt: row.created_at,
  updatedAt: row.updated_at,
});

/**
 * The capacity ledger on `tx_capacity` and `tx_capacity_claim` (migrations `capacityMigrations`) and, for
 * TCC, the barrier `tx_tcc_barrier` (`tccBarrierMigrations`), in the participant's own database. Every
 * method runs in the caller's executor: a local transaction for writes (`Database.transaction`), so the
 * claim, the level and the barrier row commit or roll back together.
 *
 * Never oversold: units are taken or held by ONE conditional UPDATE of the resource's row
 * (`… WHERE available >= units`); racing writers queue on that row's lock and each re-checks the condition
 * on the row as the one before it left it, and the CHECK on `available` refuses anything else. Idempotent
 * per key: a claim starts with `INSERT … ON CONFLICT (key) DO NOTHING`, so two calls of one key serialise
 * on the primary key and the second finds the first's row. Works at READ COMMITTED.
 */
export class PostgresCapacityLedger implements CapacityLedger<SqlExecutor> {
  constructor(private readonly barrier: TccBarrier<SqlExecutor> = new PostgresTccBarrier()) {}

  async register(tx: SqlExecutor, resource: string, capacity: number): Promise<boolean> {
    assertResourceId(resource);
    assertCapacity(capacity);
    const rows = await tx.query(
      hotStatement(
        'INSERT INTO tx_capacity (resource, capacity) VALUES ($1, $2) ON CONFLICT (resource) DO NOTHING RETURNING 1',
      ),
      [resource, capacity],
    );
    return rows.length === 1;
  }

  async setCapacity(
    tx: SqlExecutor,
    resource: string,
    capacity: number,
  ): Promise<{ level: CapacityLevel; created: boolean }> {
    assertResourceId(resource);
    assertCapacity(capacity);
    const rows = await tx.query<CapacityLevel & { created: boolean }>(
      `INSERT INTO tx_capacity (resource, capacity) VALUES ($1, $2)
         ON CONFLICT (resource) DO UPDATE SET capacity = EXCLUDED.capacity, updated_at = now()
           WHERE tx_capacity.taken + tx_capacity.held + tx_capacity.lent <= EXCLUDED.capacity
         RETURNING ${LEVEL}, (xmax = 0) AS created`,
      [resource, capacity],
    );
    if (rows.length === 0) {
      const level = await this.get(tx, resource);
      throw new CapacityInUseError(resource, level === undefined ? 0 : level.taken + level.held + level.lent);
    }
    const { created, ...level } = rows[0];
    return { level, created };
  }

  async get(tx: SqlExecutor, resource: string): Promise<CapacityLevel | undefined> {
    const rows = await tx.query<CapacityLevel>(`SELECT ${LEVEL} FROM tx_capacity WHERE resource = $1`, [
      resource,
    ]);
    return rows[0];
  }

  async claims(tx: SqlExecutor, gtid: string): Promise<CapacityClaim[]> {
    const rows = await tx.query<ClaimRow>(
      `SELECT ${CLAIM} FROM tx_capacity_claim WHERE gtid = $1 ORDER BY created_at, key`,
      [gtid],
    );
    return rows.map(claimOf);
  }

  async sagaApply(tx: SqlExecutor, request: SagaApplyRequest): Promise<SagaApplied> {
    assertApply(request);
    const { key, gtid, resource, units } = request;
    const applied: SagaApplied = { key, gtid, resource, units, state: 'applied' };
    if (await this.insertClaim(tx, request, 'saga', 'applied')) {
      await this.reserve(tx, TAKE, resource, units);
      return applied;
    }
    const claim = await this.existing(tx, key);
    this.expectSame(claim, request, 'saga');
    if (claim.state === 'released') throw new ClaimReleasedError(key);
    return applied;
  }

  async sagaRelease(tx: SqlExecutor, request: SagaReleaseRequest): Promise<SagaReleased> {
    assertRelease(request);
    const { key, gtid } = request;
    // A release that comes first leaves the tombstone: the apply that may still arrive is refused.
    if (await this.insertClaim(tx, { key, gtid, resource: null, units: 0 }, 'saga', 'released'))
      return { key, gtid, state: 'released', returned: 0 };
    const claim = await this.existing(tx, key, true);
    this.expectSame(claim, { key, gtid }, 'saga');
    if (claim.state === 'applied') await this.settle(tx, key, 'applied', 'released', 'taken = taken - $2');
    return { key, gtid, state: 'released', returned: claim.units };
  }

  async tccTry(tx: SqlExecutor, request: TccTryRequest): Promise<TccHeld> {
    assertTry(request);
    const { gtid, branch, resource, units } = request;
    const key = branchKey(gtid, branch);
    const result = await this.barrier.try(tx, { gtid, branch }, async (t) => {
      // The barrier ran the Try for the first time, so the key can only be another mode's claim.
      if (!(await this.insertClaim(t, { key, gtid, resource, units }, 'tcc', 'held')))
        throw new ClaimMismatchError(key, 'as another claim');
      await this.reserve(t, HOLD, resource, units);
    });
    if (!result.ran && result.skipped === 'cancelled') throw new BranchCancelledError(gtid, branch);
    if (!result.ran) {
      const claim = await this.existing(tx, key);
      this.expectSame(claim, { key, gtid, resource, units }, 'tcc');
      if (claim.state === 'released') throw new BranchCancelledError(gtid, branch);
    }
    return { gtid, branch, key, resource, units, state: 'held' };
  }

  async tccConfirm(tx: SqlExecutor, request: TccBranchRequest): Promise<TccSettled> {
    assertBranch(request);
    const key = branchKey(request.gtid, request.branch);
    const result = await this.barrierCall(() =>
      this.barrier.confirm(tx, request, (t) =>
        this.settle(t, key, 'held', 'applied', 'held = held - $2, taken = taken + $2'),
      ),
    );
    const units = result.ran ? result.value : (await this.existing(tx, key)).units;
    return { ...request, key, state: 'applied', units };
  }

  async tccCancel(tx: SqlExecutor, request: TccBranchRequest): Promise<TccSettled> {
    assertBranch(request);
    const { gtid, branch } = request;
    const key = branchKey(gtid, branch);
    const result = await this.barrierCall(() =>
      this.barrier.cancel(tx, request, (t) => this.settle(t, key, 'held', 'released', 'held = held - $2')),
    );
    let units = 0;
    if (result.ran) units = result.value;
    else if (result.skipped === 'empty-rollback')
      // The barrier refuses the late Try; the tombstone shows the cancelled branch among the gtid's claims.
      await this.insertClaim(tx, { key, gtid, resource: null, units: 0 }, 'tcc', 'released');
    else units = (await this.existing(tx, key)).units;
    return { gtid, branch, key, state: 'released', units };
  }

  async applyQuotaClaims(tx: SqlExecutor, claims: readonly QuotaClaim[]): Promise<QuotaClaimsApplied> {
    const batch = new Map<string, QuotaClaim>();
    for (const claim of claims) {
      assertApply(claim);
      const seen = batch.get(claim.key);
      if (seen !== undefined) this.expectSame({ ...seen, mode: 'quota-saga' }, claim, 'quota-saga');
      batch.set(claim.key, claim);
    }
    const ordered = [...batch.values()].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
    if (ordered.length === 0) return { applied: [], duplicates: [] };
    const resources = [...new Set(ordered.map((c) => c.resource))].sort();
    const known = await tx.query<{ resource: string }>(
      'SELECT resource FROM tx_capacity WHERE resource = ANY($1::text[])',
      [resources],
    );
    const missing = resources.find((r) => !known.some((k) => k.resource === r));
    if (missing !== undefined) throw new UnknownResourceError(missing);
    const inserted = await tx.query<{ key: string }>(
      `INSERT INTO tx_capacity_claim (key, gtid, resource, units, mode, state)
         SELECT k, g, r, u, 'quota-saga', 'applied'
           FROM unnest($1::text[], $2::text[], $3::text[], $4::int[]) WITH ORDINALITY AS c(k, g, r, u, n)
           ORDER BY n
         ON CONFLICT (key) DO NOTHING RETURNING key`,
      [
        ordered.map((c) => c.key),
        ordered.map((c) => c.gtid),
        ordered.map((c) => c.resource),
        ordered.map((c) => c.units),
      ],
    );
    const applied = new Set(inserted.map((r) => r.key));
    const duplicates = ordered.filter((c) => !applied.has(c.key));
    if (duplicates.length > 0) {
      const rows = await tx.query<ClaimRow>(
        `SELECT ${CLAIM} FROM tx_capacity_claim WHERE key = ANY($1::text[])`,
        [duplicates.map((c) => c.key)],
      );
      for (const claim of duplicates) {
        const row = rows.find((r) => r.key === claim.key);
        if (row === undefined) throw new ClaimMismatchError(claim.key, 'and vanished');
        this.expectSame(claimOf(row), claim, 'quota-saga');
      }
    }
    const units = new Map<string, number>();
    for (const claim of ordered)
      if (applied.has(claim.key)) units.set(claim.resource, (units.get(claim.resource) ?? 0) + claim.units);
    // Resources in a fixed order: two batches on the same resources never wait on each other in a cycle.
    for (const resource of [...units.keys()].sort()) {
      const rows = await tx.query(
        `UPDATE tx_capacity SET lent = lent - $2, taken = taken + $2, updated_at = now()
           WHERE resource = $1 AND lent >= $2 RETURNING 1`,
        [resource, units.get(resource)],
      );
      if (rows.length === 0) throw new QuotaNotLentError(resource);
    }
    return {
      applied: ordered.filter((c) => applied.has(c.key)).map((c) => c.key),
      duplicates: duplicates.map((c) => c.key),
    };
  }

  async lend(tx: SqlExecutor, resource: string, units: number): Promise<number> {
    assertResourceId(resource);
    assertLoan(units);
    const rows = await tx.query<{ available: number }>(
      'SELECT available FROM tx_capacity WHERE resource = $1 FOR UPDATE',
      [resource],
    );
    if (rows.length === 0) throw new UnknownResourceError(resource);
    const lent = Math.min(units, rows[0].available);
    if (lent > 0)
      await tx.query('UPDATE tx_capacity SET lent = lent + $2, updated_at = now() WHERE resource = $1', [
        resource,
        lent,
      ]);
    return lent;
  }

  async giveBack(tx: SqlExecutor, resource: string, units: number): Promise<void> {
    assertResourceId(resource);
    assertLoan(units);
    const rows = await tx.query(
      `UPDATE tx_capacity SET lent = lent - $2, updated_at = now() WHERE resource = $1 AND lent >= $2 RETURNING 1`,
      [resource, units],
    );
    if (rows.length === 1) return;
    if ((await this.get(tx, resource)) === undefined) throw new UnknownResourceError(resource);
    throw new QuotaNotLentError(resource);
  }

  /** Inserts the claim unless its key exists; true when it inserted. An unknown resource is refused. */
  private async insertClaim(
    tx: SqlExecutor,
    claim: { key: string; gtid: string; resource: string | null; units: number },
    mode: ClaimMode,
    state: ClaimState,
  ): Promise<boolean> {
    try {
      const rows = await tx.query(INSERT_CLAIM, [
        claim.key,
        claim.gtid,
        claim.resource,
        claim.units,
        mode,
        state,
      ]);
      return rows.length === 1;
    } catch (error) {
      if (pgErrorCode(error) === PgErrorCode.ForeignKeyViolation && claim.resource !== null)
        throw new UnknownResourceError(claim.resource);
      throw error;
    }
  }

  /** Takes or holds `units` of `resource` with one conditional UPDATE, or refuses. */
  private async reserve(tx: SqlExecutor, sql: string, resource: string, units: number): Promise<void> {
    if ((await tx.query(sql, [resource, units])).length === 0)
      throw new InsufficientCapacityError(resource, units);
  }

  /** Moves the claim from `from` to `to` and its units as `levels` says ($2 = its units); returns them. */
  private async settle(
    tx: SqlExecutor,
    key: string,
    from: ClaimState,
    to: ClaimState,
    levels: string,
  ): Promise<number> {
    const rows = await tx.query<{ resource: string; units: number }>(SETTLE_CLAIM, [key, to, from]);
    if (rows.length === 0) throw new ClaimMismatchError(key, `but is not ${from}`);
    const { resource, units } = rows[0];
    await tx.query(`UPDATE tx_capacity SET ${levels}, updated_at = now() WHERE resource = $1`, [
      resource,
      units,
    ]);
    return units;
  }

  /** The claim under `key` (locked when `lock`): it exists, since an insert of the key just conflicted. */
  private async existing(tx: SqlExecutor, key: string, lock = false): Promise<CapacityClaim> {
    const rows = await tx.query<ClaimRow>(
      `SELECT ${CLAIM} FROM tx_capacity_claim WHERE key = $1${lock ? ' FOR UPDATE' : ''}`,
      [key],
    );
    if (rows.length === 0) throw new ClaimMismatchError(key, 'in a transaction not yet committed');
    return claimOf(rows[0]);
  }

  /** Refuses a call whose key is already claimed by another gtid or mode, or (when given) resource or units. */
  private expectSame(
    claim: Pick<CapacityClaim, 'key' | 'gtid' | 'mode' | 'resource' | 'units'> & { state?: ClaimState },
    request: { key: string; gtid: string; resource?: string; units?: number },
    mode: ClaimMode,
  ): void {
    if (claim.gtid !== request.gtid) throw new ClaimMismatchError(claim.key, 'under another gtid');
    if (claim.mode !== mode) throw new ClaimMismatchError(claim.key, `as a ${claim.mode} claim`);
    // A tombstone written before any apply has no resource: the apply is refused as released instead.
    if (claim.state === 'released' && claim.resource === null) return;
    if (request.resource !== undefined && claim.resource !== request.resource)
      throw new ClaimMismatchError(claim.key, 'for another resource');
    if (request.units !== undefined && claim.units !== request.units)
      throw new ClaimMismatchError(claim.key, 'for another number of units');
  }

  private async barrierCall<T>(call: () => Promise<T>): Promise<T> {
    try {
      return await call();
    } catch (error) {
      if (error instanceof TccBarrierViolationError) throw new BranchSettledError(error.message);
      throw error;
    }
  }
}
