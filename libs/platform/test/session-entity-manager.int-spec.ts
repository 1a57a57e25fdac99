import { randomBytes } from 'node:crypto';
import { Global, Module } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { Column, DataSource, Entity, PrimaryColumn, QueryRunnerAlreadyReleasedError } from 'typeorm';
import type { DatabaseSettings } from '../src/config/service-config';
import { SERVICE_CONFIG } from '../src/config/service-config';
import { Database, expectCommand } from '../src/database/database';
import { DatabaseModule, entityDataSourceOptions } from '../src/database/database.module';
import { EntityExecutor, NoEntitiesError } from '../src/database/session-entity-manager';
import { PgErrorCode, pgErrorCode } from '../src/database/sql-executor';
import { createTestDatabase } from '../src/testing/test-database';

@Entity('notes')
class Note {
  @PrimaryColumn({ type: 'text' })
  id!: string;

  @Column({ type: 'integer', default: 0 })
  revision!: number;
}

const note = (id: string, revision = 1): Note => Object.assign(new Note(), { id, revision });

/**
 * TypeORM repositories on a session's own connection: their writes belong to the session's transaction
 * (committed with it, rolled back with it, seen by its raw statements and not by other connections
 * before it commits), never to a transaction of their own.
 */
describe('session.repository: TypeORM inside the session transaction, over a real PostgreSQL', () => {
  let settings: DatabaseSettings;
  let drop: () => Promise<void>;
  let dataSource: DataSource;
  let db: Database;

  beforeAll(async () => {
    const created = await createTestDatabase('platform', []);
    ({ settings, drop } = created);
    dataSource = new DataSource(entityDataSourceOptions(settings, 'platform-test', [Note]));
    await dataSource.initialize();
    db = new Database(settings, 'platform-test', dataSource);
    await db.query('CREATE TABLE notes (id text PRIMARY KEY, revision integer NOT NULL DEFAULT 0)');
  });

  afterAll(async () => {
    await db.close();
    await dataSource.destroy();
    await drop();
  });

  const stored = async (id: string) => (await db.query('SELECT 1 FROM notes WHERE id = $1', [id])).length;

  it('rolls back an entity saved in a transaction that then throws (save() commits nothing itself)', async () => {
    await expect(
      db.transaction(async (tx) => {
        await tx.repository(Note).save([note('saved-then-thrown'), note('saved-then-thrown-2')]);
        throw new Error('step failed after the save');
      }),
    ).rejects.toThrow('step failed after the save');
    expect(await stored('saved-then-thrown')).toBe(0);
    expect(await stored('saved-then-thrown-2')).toBe(0);
  });

  it('commits raw and TypeORM writes together; each sees the other before commit, no one else does', async () => {
    await db.transaction(async (tx) => {
      await tx.query('INSERT INTO notes (id, revision) VALUES ($1, 1)', ['raw']);
      await tx.repository(Note).insert(note('entity'));
      expect(await tx.repository(Note).findOneBy({ id: 'raw' })).toEqual(note('raw'));
      expect(await tx.query('SELECT id FROM notes WHERE id = $1', ['entity'])).toEqual([{ id: 'entity' }]);
      await tx.repository(Note).update({ id: 'raw' }, { revision: () => 'revision + 1' });
      // Another connection, on either pool, sees neither before the commit.
      expect(await stored('raw')).toBe(0);
      expect(await db.repository(Note).countBy({ id: 'entity' })).toBe(0);
    });
    expect(await db.repository(Note).findBy({ id: 'raw' })).toEqual([note('raw', 2)]);
    expect(await stored('entity')).toBe(1);
  });

  it('fails the whole transaction on a TypeORM statement that fails, with the PostgreSQL error code', async () => {
    await db.query('INSERT INTO notes (id) VALUES ($1)', ['taken']);
    const error: unknown = await db
      .transaction(async (tx) => {
        await tx.query('INSERT INTO notes (id) VALUES ($1)', ['before-conflict']);
        await tx.repository(Note).insert(note('taken'));
      })
      .catch((e: unknown) => e);
    expect(pgErrorCode(error)).toBe(PgErrorCode.UniqueViolation);
    expect(await stored('before-conflict')).toBe(0);
  });

  it('locks rows with FOR UPDATE SKIP LOCKED through the query builder', async () => {
    await db.query(`INSERT INTO notes (id) VALUES ('lock-a'), ('lock-b')`);
    const claim = (tx: EntityExecutor) =>
      tx
        .repository(Note)
        .createQueryBuilder('n')
        .where('n.id IN (:...ids)', { ids: ['lock-a', 'lock-b'] })
        .orderBy('n.id')
        .limit(1)
        .setLock('pessimistic_write')
        .setOnLocked('skip_locked')
        .getMany();
    await db.transaction(async (first) => {
      expect((await claim(first)).map((n) => n.id)).toEqual(['lock-a']);
      const second = await db.transaction((other) => claim(other));
      expect(second.map((n) => n.id)).toEqual(['lock-b']);
    });
  });

  it('turns a nested manager.transaction into a savepoint of the session transaction', async () => {
    await db.transaction(async (tx) => {
      await tx.repository(Note).insert(note('outer'));
      await expect(
        tx.manager.transaction(async (inner) => {
          await inner.getRepository(Note).insert(note('inner'));
          throw new Error('inner step failed');
        }),
      ).rejects.toThrow('inner step failed');
      expect(await tx.repository(Note).countBy({ id: 'inner' })).toBe(0);
    });
    expect(await stored('outer')).toBe(1);
    expect(await stored('inner')).toBe(0);
  });

  it('refuses to commit the session transaction from TypeORM', async () => {
    await expect(
      db.transaction(async (tx) => {
        await tx.repository(Note).insert(note('early-commit'));
        await tx.manager.queryRunner?.commitTransaction();
      }),
    ).rejects.toThrow(/session's owner ends it/);
    expect(await stored('early-commit')).toBe(0);
  });

  it('keeps a TypeORM write of a branch prepared with PREPARE TRANSACTION until COMMIT PREPARED', async () => {
    const gid = `platform-test-${randomBytes(6).toString('hex')}`;
    await db.withSession(async (session) => {
      await session.query('BEGIN');
      await session.repository(Note).save(note('prepared'));
      expectCommand(await session.command(`PREPARE TRANSACTION '${gid}'`), 'PREPARE');
    });
    expect(await stored('prepared')).toBe(0);
    expectCommand(await db.command(`COMMIT PREPARED '${gid}'`), 'COMMIT');
    expect(await stored('prepared')).toBe(1);
  });

  it('refuses statements once the session has ended (its connection went back to the pool)', async () => {
    const kept = await db.transaction((tx) => Promise.resolve(tx.repository(Note)));
    await expect(kept.findOneBy({ id: 'raw' })).rejects.toBeInstanceOf(QueryRunnerAlreadyReleasedError);
  });

  it('has no repositories in a service that declares no entities', async () => {
    const plain = new Database(settings, 'platform-test');
    try {
      await expect(plain.transaction((tx) => tx.repository(Note).count())).rejects.toBeInstanceOf(
        NoEntitiesError,
      );
      expect(() => plain.repository(Note)).toThrow(NoEntitiesError);
    } finally {
      await plain.close();
    }
  });

  it('wires the DataSource into the Database only when a service declares entities', async () => {
    @Global()
    @Module({
      providers: [
        { provide: SERVICE_CONFIG, useValue: { database: settings, service: { name: 'platform-test' } } },
      ],
      exports: [SERVICE_CONFIG],
    })
    class ConfigModule {}

    const plain = await Test.createTestingModule({
      imports: [ConfigModule, DatabaseModule.forRoot()],
    }).compile();
    expect(plain.get(Database).dataSource).toBeUndefined();
    await plain.close();

    const withEntities = await Test.createTestingModule({
      imports: [ConfigModule, DatabaseModule.forRoot({ entities: [Note] })],
    }).compile();
    const wired = withEntities.get(Database);
    expect(wired.dataSource?.isInitialized).toBe(true);
    await wired.transaction((tx) => tx.repository(Note).insert(note('wired')));
    expect(await stored('wired')).toBe(1);
    await withEntities.close();
    expect(wired.dataSource?.isInitialized).toBe(false);
  });
});
