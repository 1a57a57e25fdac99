import { Database } from '@hospital/platform';
import { createTestDatabase } from '@hospital/platform/testing/test-database';
import { transactionLogMigrations } from '@hospital/transactions';

/** A coordinator's and a participant's database for a suite, each with an `orders` table for branches. */
export interface TwoPhaseDatabases {
  coordinator(): Database;
  participant(): Database;
  /** 1 when the participant holds the order row, 0 otherwise. */
  orderIn(id: string): Promise<number>;
  /** True while the participant holds a prepared transaction named `gid`. */
  isPrepared(gid: string): Promise<boolean>;
}

/**
 * Creates both databases from the migrated template before the suite's tests and drops them after
 * (registers its own beforeAll and afterAll).
 */
export function useTwoPhaseDatabases(applicationName: string): TwoPhaseDatabases {
  const dbs: { db: Database; drop: () => Promise<void> }[] = [];
  const open = async (): Promise<Database> => {
    const { settings, drop } = await createTestDatabase('txlib', transactionLogMigrations);
    const db = new Database(settings, applicationName);
    await db.query('CREATE TABLE IF NOT EXISTS orders (id text PRIMARY KEY, owner text NOT NULL)');
    dbs.push({ db, drop });
    return db;
  };
  beforeAll(async () => {
    await open();
    await open();
  });
  afterAll(async () => {
    for (const { db, drop } of dbs) {
      await db.close();
      await drop();
    }
  });
  const participant = (): Database => dbs[1].db;
  return {
    coordinator: () => dbs[0].db,
    participant,
    orderIn: async (id) => (await participant().query('SELECT 1 FROM orders WHERE id = $1', [id])).length,
    isPrepared: async (gid) =>
      (await participant().query('SELECT 1 FROM pg_prepared_xacts WHERE gid = $1', [gid])).length === 1,
  };
}
