import { Database } from '@hospital/platform';
import { createTestDatabase } from '@hospital/platform/testing/test-database';
import {
  CapacityLevel,
  capacityMigrations,
  PostgresCapacityLedger,
  tccBarrierMigrations,
} from '@hospital/transactions';
import { capacityAccountingViolations } from '@hospital/transactions/testing/capacity-accounting';

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
    if (open.db) expect(await capacityAccountingViolations(open.db)).toEqual([]);
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
