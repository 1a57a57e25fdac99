import type { PoolClient } from 'pg';
import type { DataSource, EntityManager, EntityTarget, ObjectLiteral, Repository } from 'typeorm';
import type { PostgresDriver } from 'typeorm/driver/postgres/PostgresDriver';
import { PostgresQueryRunner } from 'typeorm/driver/postgres/PostgresQueryRunner';
import type { SqlExecutor } from './sql-executor';

/**
 * What a repository of relational tables needs: raw statements and TypeORM repositories on the same
 * connection. A `Session` gives both on its own connection (inside its transaction); the `Database` gives
 * both outside any transaction, each statement committing on its own.
 */
export interface EntityExecutor extends SqlExecutor {
  repository<E extends ObjectLiteral>(entity: EntityTarget<E>): Repository<E>;
}

/** An entity class, as a service lists them in `PlatformModule.forRoot(config, { entities })`. */
export type EntityClass = abstract new (...args: never[]) => object;

/** Raised when a service uses TypeORM repositories without declaring its entities. */
export class NoEntitiesError extends Error {
  constructor() {
    super(
      'this service declares no TypeORM entities: list them in PlatformModule.forRoot(config, { entities })',
    );
  }
}

/**
 * TypeORM on a session's connection. The outbox and the inbox hold their guarantees only if their rows
 * and the domain writes commit in one local transaction on one connection, so TypeORM must run on the
 * session's pg client, never on a connection of its own pool, and must never begin or end a transaction
 * there: the session's owner does (`Database.transaction`, or a branch's BEGIN … PREPARE TRANSACTION).
 *
 * - `connect()` of a Postgres query runner returns `databaseConnection` when it is set: TypeORM's pool is
 *   never asked for a connection.
 * - `isTransactionActive` is true from the start, so `save()`, `insert()` and the query builders never
 *   send their own START TRANSACTION / COMMIT (which would commit the inbox's or outbox's transaction
 *   half-way), and pessimistic locks (`FOR UPDATE`) are allowed. With `transactionDepth` 1, a nested
 *   `manager.transaction(...)` becomes a SAVEPOINT inside the session's transaction.
 * - Committing or rolling back at that outermost level is refused: that is the session owner's call.
 * - On a session that never sent BEGIN (`withSession` without one), each statement commits on its own,
 *   exactly as the session's raw statements do.
 * - `release()` only marks the runner finished: the client belongs to the session, which returns it to
 *   the pool. Once released, the manager refuses statements instead of running them on a client that the
 *   pool may have handed to someone else.
 */
class SessionQueryRunner extends PostgresQueryRunner {
  constructor(dataSource: DataSource, client: PoolClient) {
    super(dataSource.driver as PostgresDriver, 'master');
    this.databaseConnection = client;
    this.isTransactionActive = true;
    this.transactionDepth = 1;
    this.manager = dataSource.createEntityManager(this);
  }

  /** Ends a nested `manager.transaction(...)` (a savepoint); never the session's own transaction. */
  override async commitTransaction(): Promise<void> {
    this.refuseOutermost('commit');
    await super.commitTransaction();
  }

  override async rollbackTransaction(): Promise<void> {
    this.refuseOutermost('roll back');
    await super.rollbackTransaction();
  }

  override release(): Promise<void> {
    this.isReleased = true;
    return Promise.resolve();
  }

  private refuseOutermost(action: string): void {
    if (this.transactionDepth <= 1) {
      throw new Error(`TypeORM may not ${action} a session's transaction: the session's owner ends it`);
    }
  }
}

/**
 * An EntityManager on `client`, inside the transaction its session holds. A session creates it on first
 * use only, so sessions that never use TypeORM (the hot paths) pay nothing for it.
 */
export function sessionEntityManager(dataSource: DataSource, client: PoolClient): EntityManager {
  return new SessionQueryRunner(dataSource, client).manager;
}
