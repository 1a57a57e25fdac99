import { Database } from '@hospital/platform';
import { createTestDatabase } from '@hospital/platform/testing/test-database';
import {
  CapacityLevel,
  capacityMigrations,
  PostgresCapacityLedger,
  tccBarrierMigrations,
} from '@hospital/transactions';

/**
 * Resources whose level breaks the accounting: capacity ≠ available + taken + held + lent, available below
 * zero, `taken` not the sum of the applied claims' units or `held` not the sum of the held claims' units.
 * Read straight from the tables, independently of the ledger's own code.
 */
export async function accountingViolations(db: Database): Promise<Record<string, unknown>[]> {
  return db.query(`
    SELECT c.resource, c.capacity, c.available, c.taken, c.held, c.lent,
           coalesce(a.units, 0) AS applied_units, coalesce(h.units, 0) AS held_units
      FROM tx_capacity c
      LEFT JOIN (SELECT resource, sum(units)::int AS units FROM tx_capacity_claim
                  WHERE state = 'applied' GROUP BY resource) a USING (resource)
      LEFT JOIN (SELECT resource, sum(units)::int AS units FROM tx_capacity_claim
                  WHERE state = 'held' GROUP BY resource) h USING (resource)
     WHERE c.capacity <> c.available + c.taken + c.held + c.lent
        OR c.available < 0
        OR c.taken <> coalesce(a.units, 0)
        OR c.held <> coalesce(h.units, 0)`);
}

export interface CapacityDatabases {
  /** The participant's pool. */
  db(): Database;
  /** A second pool on the same database: another replica of the participant. */
  replica(): Database;
  ledger: PostgresCapacityLedger;
  level(resource: string): Promise<CapacityLevel | undefined>;
  /** Registers `resource` with `capacity` units. */
  offer(resource: string, capacity: number): Promise<void>;
}

/**
 * A participant's database for one suite (capacity and barrier tables), two pools on it, and the accounting
 * checked after every test (registers its own beforeAll, afterEach and afterAll).
 */
export function useCapacityDatabase(name: string): CapacityDatabases {
  const open: { db?: Database; replica?: Database; drop?: () => Promise<void> } = {};
  const ledger = new PostgresCapacityLedger();
  beforeAll(async () => {
    const created = await createTestDatabase('txlib_capacity', [
      ...tccBarrierMigrations,
      ...capacityMigrations,
    ]);
    open.drop = created.drop;
    open.db = new Database({ ...created.settings, poolSize: 12 }, name);
    open.replica = new Database({ ...created.settings, poolSize: 12 }, `${name}-replica`);
  });
  afterEach(async () => {
    if (open.db) expect(await accountingViolations(open.db)).toEqual([]);
  });
  afterAll(async () => {
    await open.db?.close();
    await open.replica?.close();
    await open.drop?.();
  });
  const db = (): Database => {
    if (!open.db) throw new Error('the capacity database is not open yet');
    return open.db;
  };
  return {
    db,
    replica: () => open.replica ?? db(),
    ledger,
    level: (resource) => ledger.get(db(), resource),
    offer: async (resource, capacity) => {
      await db().transaction((tx) => ledger.setCapacity(tx, resource, capacity));
    },
  };
}
