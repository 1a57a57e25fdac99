import { Pool, PoolClient, types } from 'pg';
import type { DataSource, EntityManager, EntityTarget, ObjectLiteral, Repository } from 'typeorm';
import { DatabaseSettings } from '../config/service-config';
import { EntityExecutor, NoEntitiesError, sessionEntityManager } from './session-entity-manager';
import { queryConfig } from './sql-executor';

// int8 counts and ids as numbers, timestamps as Date (pg's default) — row mappers convert further.
types.setTypeParser(types.builtins.INT8, (value) => Number(value));

/**
 * Waits until every step has settled and returns the first failure in the order given, or undefined:
 * statements sent without waiting for each other's answers are all observed, none left unhandled.
 */
export async function firstFailure(...steps: (Promise<unknown> | undefined)[]): Promise<Error | undefined> {
  const outcomes = await Promise.all(
    steps.map((step) =>
      (step ?? Promise.resolve()).then(
        () => undefined,
        (error: unknown) => (error instanceof Error ? error : new Error(String(error))),
      ),
    ),
  );
  return outcomes.find((outcome) => outcome !== undefined);
}

/**
 * A connection held for a sequence of statements: a local transaction, or a branch that ends prepared.
 * Raw statements (`query`, `command`) and TypeORM repositories (`repository`, `manager`) run on that one
 * connection, in that one transaction (see session-entity-manager.ts).
 */
export class Session implements EntityExecutor {
  private entityManager?: EntityManager;

  constructor(
    private readonly client: PoolClient,
    private readonly dataSource?: DataSource,
  ) {}

  /** A TypeORM repository on this session's connection and transaction (the service's entities only). */
  repository<E extends ObjectLiteral>(entity: EntityTarget<E>): Repository<E> {
    return this.manager.getRepository(entity);
  }

  /** A TypeORM EntityManager on this session's connection and transaction, created on first use. */
  get manager(): EntityManager {
    if (this.dataSource === undefined) throw new NoEntitiesError();
    this.entityManager ??= sessionEntityManager(this.dataSource, this.client);
    return this.entityManager;
  }

  /** Called by `Database` when the connection goes back to the pool: TypeORM runs nothing more on it. */
  end(): void {
    void this.entityManager?.queryRunner?.release();
  }

  async query<T = Record<string, unknown>>(sql: string, parameters?: unknown[]): Promise<T[]> {
    const result = await this.client.query(queryConfig(sql, parameters));
    return result.rows as T[];
  }

  /** Runs one statement and returns its command tag (`COMMIT`, `PREPARE`…) and row count. */
  async command(sql: string, parameters?: unknown[]): Promise<CommandResult> {
    return commandResult(await this.client.query(queryConfig(sql, parameters)));
  }
}

/**
 * What a statement reports besides rows. The tag matters where PostgreSQL answers a failed
 * transaction without an error: `COMMIT` and `PREPARE TRANSACTION` of an aborted transaction succeed
 * with the tag `ROLLBACK`. The driver keeps the tag's first word: `PREPARE` for PREPARE TRANSACTION,
 * `COMMIT` for COMMIT PREPARED, `ROLLBACK` for ROLLBACK PREPARED.
 */
export interface CommandResult {
  command: string;
  rowCount: number;
}

const commandResult = (result: { command: string; rowCount: number | null }): CommandResult => ({
  command: result.command,
  rowCount: result.rowCount ?? 0,
});

/** Raised when a statement answered with another command tag than the one it must have. */
export class UnexpectedCommandTagError extends Error {
  constructor(
    readonly expected: string,
    readonly actual: string,
  ) {
    super(`expected ${expected}, PostgreSQL answered ${actual}`);
  }
}

/** Throws unless `result` carries the tag `expected` (see CommandResult). */
export function expectCommand(result: CommandResult, expected: string): void {
  if (result.command !== expected) throw new UnexpectedCommandTagError(expected, result.command);
}

/**
 * The pool of one service's database. Repositories, stores and transaction adapters run their SQL
 * through it; nothing else in a service touches the driver. A service that declares TypeORM entities
 * also hands over its DataSource: sessions then offer repositories on their own connection.
 */
export class Database implements EntityExecutor {
  readonly pool: Pool;
  private relaxedPool?: Pool;

  constructor(
    readonly settings: DatabaseSettings,
    private readonly applicationName: string,
    readonly dataSource?: DataSource,
  ) {
    this.pool = this.createPool(settings.poolSize);
  }

  private createPool(max: number, options?: string): Pool {
    const pool = new Pool({
      host: this.settings.host,
      port: this.settings.port,
      user: this.settings.user,
      password: this.settings.password,
      database: this.settings.database,
      max,
      options,
      application_name: this.applicationName,
      idleTimeoutMillis: 30_000,
      connectionTimeoutMillis: 5_000,
      // Statements issued one after another without waiting go out together (see `transaction`).
      pipeline: true,
    });
    // An idle client that loses its server (a restart) must not crash the process; the pool replaces it.
    pool.on('error', () => undefined);
    return pool;
  }

  async query<T = Record<string, unknown>>(sql: string, parameters?: unknown[]): Promise<T[]> {
    const result = await this.pool.query(queryConfig(sql, parameters));
    return result.rows as T[];
  }

  /** Runs one statement and returns its command tag and row count (see CommandResult). */
  async command(sql: string, parameters?: unknown[]): Promise<CommandResult> {
    return commandResult(await this.pool.query(queryConfig(sql, parameters)));
  }

  /**
   * A TypeORM repository outside any transaction, on the DataSource's own small pool: reads, and single
   * statements that commit on their own. Several writes that belong together go through `transaction`
   * and `session.repository` instead.
   */
  repository<E extends ObjectLiteral>(entity: EntityTarget<E>): Repository<E> {
    if (this.dataSource === undefined) throw new NoEntitiesError();
    return this.dataSource.getRepository(entity);
  }

  /**
   * Runs one statement whose commit need not wait for the WAL flush (`synchronous_commit = off`): for
   * bookkeeping that recovery can re-derive, such as a transaction's start record or its completion mark.
   * Never for a decision or for data.
   */
  async queryRelaxed<T = Record<string, unknown>>(sql: string, parameters?: unknown[]): Promise<T[]> {
    this.relaxedPool ??= this.createPool(
      Math.max(2, Math.ceil(this.settings.poolSize / 4)),
      '-c synchronous_commit=off',
    );
    const result = await this.relaxedPool.query(sql, parameters);
    return result.rows as T[];
  }

  /** Runs `work` on one dedicated connection, released afterwards (destroyed if `work` threw). */
  async withSession<T>(work: (session: Session) => Promise<T>): Promise<T> {
    return this.onConnection(work, () => false);
  }

  /**
   * Runs `work` in a local transaction: committed when it returns, rolled back when it throws. A
   * connection whose transaction was rolled back cleanly goes back to the pool (a refused booking or vital
   * is an everyday failure: it must not cost a new server process); one whose ROLLBACK failed is destroyed.
   */
  async transaction<T>(
    work: (tx: Session) => Promise<T>,
    options: { synchronousCommit?: boolean } = {},
  ): Promise<T> {
    let rolledBack = false;
    return this.onConnection(
      async (session) => {
        // BEGIN travels with the work's first statement instead of costing a round trip of its own. BEGIN
        // fails only in a session whose transaction already failed, and that transaction stays failed
        // until the ROLLBACK below, sent once the work has settled: every statement of the work fails with
        // it.
        const opened = session.query(
          options.synchronousCommit === false ? 'BEGIN; SET LOCAL synchronous_commit = off' : 'BEGIN',
        );
        const worked = work(session);
        const failure = await firstFailure(opened, worked);
        if (failure !== undefined) {
          rolledBack = await session.query('ROLLBACK').then(
            () => true,
            () => false,
          );
          throw failure;
        }
        // A transaction that failed without the work noticing (an error it caught) answers COMMIT with
        // the tag ROLLBACK: that is a failure, never a commit.
        expectCommand(await session.command('COMMIT'), 'COMMIT');
        return worked;
      },
      () => rolledBack,
    );
  }

  /** `work` on a pooled connection; after a failure the connection is reused only if `reusable()` says so. */
  private async onConnection<T>(work: (session: Session) => Promise<T>, reusable: () => boolean): Promise<T> {
    const client = await this.pool.connect();
    // The pool listens for errors of idle clients only: a connection lost while checked out (the server
    // restarted, the backend terminated) would otherwise be an unhandled 'error' that ends the process.
    // Its statements reject on their own, and a failed session's connection is not reused.
    let lost = false;
    const onError = (): void => {
      lost = true;
    };
    client.on('error', onError);
    const session = new Session(client, this.dataSource);
    let destroy = false;
    try {
      return await work(session);
    } catch (error) {
      destroy = lost || !reusable();
      throw error;
    } finally {
      session.end();
      client.off('error', onError);
      client.release(destroy || lost);
    }
  }

  async close(): Promise<void> {
    await Promise.all([this.pool.end(), this.relaxedPool?.end()]);
  }
}
