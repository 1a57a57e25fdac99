import { Database } from '../src/database/database';
import { createTestDatabase } from '../src/testing/test-database';

const later = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('Database.transaction over a real PostgreSQL', () => {
  let db: Database;
  let drop: () => Promise<void>;
  let settings: ConstructorParameters<typeof Database>[0];

  beforeAll(async () => {
    const created = await createTestDatabase('platform', []);
    drop = created.drop;
    settings = created.settings;
    db = new Database(created.settings, 'platform-test');
    await db.query('CREATE TABLE notes (id text PRIMARY KEY)');
  });

  afterAll(async () => {
    await db.close();
    await drop();
  });

  const stored = async (id: string) => (await db.query('SELECT 1 FROM notes WHERE id = $1', [id])).length;

  it('commits the work and returns its value', async () => {
    const value = await db.transaction(async (tx) => {
      await tx.query('INSERT INTO notes (id) VALUES ($1)', ['committed']);
      return 42;
    });
    expect(value).toBe(42);
    expect(await stored('committed')).toBe(1);
  });

  it('rolls back every statement when the work throws, also those sent before BEGIN was answered', async () => {
    await expect(
      db.transaction(async (tx) => {
        await tx.query('INSERT INTO notes (id) VALUES ($1)', ['first']);
        await later(20);
        await tx.query('INSERT INTO notes (id) VALUES ($1)', ['second']);
        throw new Error('step failed');
      }),
    ).rejects.toThrow('step failed');
    expect(await stored('first')).toBe(0);
    expect(await stored('second')).toBe(0);
  });

  it('rolls back the work when a statement fails, and reports that statement', async () => {
    await db.query('INSERT INTO notes (id) VALUES ($1)', ['taken']);
    await expect(
      db.transaction(async (tx) => {
        await tx.query('INSERT INTO notes (id) VALUES ($1)', ['before-conflict']);
        await tx.query('INSERT INTO notes (id) VALUES ($1)', ['taken']);
      }),
    ).rejects.toMatchObject({ code: '23505' });
    expect(await stored('before-conflict')).toBe(0);
  });

  it('gives a connection whose transaction was rolled back cleanly back to the pool', async () => {
    const one = new Database({ ...settings, poolSize: 1 }, 'platform-test-one');
    try {
      const backend = (exec: Database | { query: Database['query'] }) =>
        exec.query<{ pid: number }>('SELECT pg_backend_pid() AS pid').then((rows) => rows[0].pid);
      const first = await one.transaction((tx) => backend(tx));
      // A refusal (a unique violation) rolls back: the same server process serves the next transaction.
      await one.query('INSERT INTO notes (id) VALUES ($1)', ['refused-once']);
      await expect(
        one.transaction((tx) => tx.query('INSERT INTO notes (id) VALUES ($1)', ['refused-once'])),
      ).rejects.toMatchObject({ code: '23505' });
      expect(await one.transaction((tx) => backend(tx))).toBe(first);
    } finally {
      await one.close();
    }
  });

  it('survives a connection lost mid-transaction: the work fails, the connection is destroyed, a new one serves', async () => {
    const one = new Database({ ...settings, poolSize: 1 }, 'platform-test-lost');
    try {
      const backend = (tx: { query: Database['query'] }) =>
        tx.query<{ pid: number }>('SELECT pg_backend_pid() AS pid').then((rows) => rows[0].pid);
      let first = 0;
      await expect(
        one.transaction(async (tx) => {
          first = await backend(tx);
          await db.query('SELECT pg_terminate_backend($1)', [first]);
          await later(100);
          await tx.query('SELECT 1');
        }),
      ).rejects.toThrow();
      const next = await one.transaction((tx) => backend(tx));
      expect(next).not.toBe(first);
    } finally {
      await one.close();
    }
  });

  it('runs work that waits before its first statement inside the transaction', async () => {
    await expect(
      db.transaction(async (tx) => {
        await later(20);
        await tx.query('INSERT INTO notes (id) VALUES ($1)', ['late']);
        throw new Error('changed its mind');
      }),
    ).rejects.toThrow('changed its mind');
    expect(await stored('late')).toBe(0);
  });

  it('can commit without waiting for the WAL flush', async () => {
    const setting = async (executor: Pick<Database, 'query'>) =>
      (await executor.query<{ s: string }>('SELECT current_setting($1) AS s', ['synchronous_commit']))[0].s;
    expect(await db.transaction((tx) => setting(tx), { synchronousCommit: false })).toBe('off');
    expect(await setting(db)).toBe('on');
  });
});
