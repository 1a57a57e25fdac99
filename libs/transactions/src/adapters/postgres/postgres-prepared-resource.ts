import { Database, expectCommand, firstFailure, PgErrorCode, pgErrorCode, Session } from '@hospital/platform';
import { errorMessage } from '../../core/observer';
import { InDoubtBranch, PreparedResource } from '../../ports/two-phase-commit.ports';
import { CommitAck, Vote } from '../../two-phase-commit/types';

/** The protocol a prepared branch belongs to: its recovery looks only at its own. */
export type BranchProtocol = '2pc' | '3pc';
const SEPARATOR = '|';

/**
 * PostgreSQL identifier of a branch: `<protocol>|<coordinator>|<gtid>|<database>`. Prepared-transaction
 * ids are unique across the whole server, and several participants of one global transaction may share a
 * server, so the participant's database is part of it.
 */
export function branchGid(
  coordinator: string,
  gtid: string,
  database: string,
  protocol: BranchProtocol = '2pc',
): string {
  return [protocol, coordinator, gtid, database].join(SEPARATOR);
}

function parseGid(gid: string, protocol: BranchProtocol): { coordinator: string; gtid: string } | undefined {
  const [prefix, coordinator, gtid] = gid.split(SEPARATOR);
  return prefix === protocol && coordinator && gtid ? { coordinator, gtid } : undefined;
}

/** "Is busy" retries: a concurrent COMMIT/ROLLBACK PREPARED of a branch takes milliseconds. */
const BUSY_ATTEMPTS = 8;
const BUSY_RETRY_BASE_MS = 5;
const BUSY_RETRY_MAX_MS = 200;
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** A literal for PREPARE TRANSACTION and friends, which take no parameters. Gtids are validated upstream. */
const literal = (value: string): string => `'${value.replace(/'/g, "''")}'`;

/**
 * A participant's branch as a PostgreSQL prepared transaction. The branch's business writes and its
 * `tx_participant_branch` row share the prepared transaction, so after COMMIT PREPARED the row proves the
 * branch committed (making commit idempotent), and an abort that finds nothing prepared leaves an
 * `aborted` tombstone that turns a late prepare into a NO vote.
 */
export class PostgresPreparedResource implements PreparedResource<Session> {
  constructor(
    private readonly db: Database,
    private readonly lockTimeoutMs = 5_000,
    /** 3PC branches live beside 2PC ones in a database that takes part in both. */
    readonly protocol: BranchProtocol = '2pc',
  ) {}

  /** The prepared-transaction id of a branch here. */
  gid(coordinator: string, gtid: string): string {
    return branchGid(coordinator, gtid, this.db.settings.database, this.protocol);
  }

  async prepare(gtid: string, coordinator: string, work: (tx: Session) => Promise<void>): Promise<Vote> {
    const gid = this.gid(coordinator, gtid);
    return this.db.withSession(async (session) => {
      try {
        // One message opens the branch. Its row conflicts at once with an earlier commit or abort of the
        // same branch, and within 100 ms with one still prepared (a duplicate request). Ids are validated
        // upstream and quoted here: the simple protocol takes no parameters. The business step starts
        // without waiting for the answer: if the opening failed, the transaction is aborted and stays so
        // until the step has settled, so every statement of the step fails too.
        const opened = session.query(
          `BEGIN; SET LOCAL lock_timeout = 100;
           INSERT INTO tx_participant_branch (gtid, coordinator, state)
           VALUES (${literal(gtid)}, ${literal(coordinator)}, 'committed');
           SET LOCAL lock_timeout = ${Math.floor(this.lockTimeoutMs)}`,
        );
        const failure = await firstFailure(opened, work(session));
        if (failure !== undefined) throw failure;
        expectCommand(await session.command(`PREPARE TRANSACTION ${literal(gid)}`), 'PREPARE');
        return { vote: 'yes' } as const;
      } catch (error) {
        await session.query('ROLLBACK').catch(() => undefined);
        const code = pgErrorCode(error);
        if (
          code === PgErrorCode.UniqueViolation ||
          code === PgErrorCode.LockNotAvailable ||
          code === PgErrorCode.DuplicateObject
        ) {
          // Another prepare of the same branch, or its commit or abort, got there first.
          const settled = await this.known(gid, coordinator, gtid);
          if (settled) return settled;
        }
        return { vote: 'no', reason: errorMessage(error) } as const;
      }
    });
  }

  async commit(gtid: string, coordinator: string): Promise<CommitAck> {
    const gid = this.gid(coordinator, gtid);
    const done = await this.finishPrepared(`COMMIT PREPARED ${literal(gid)}`, 'COMMIT');
    if (done) return 'committed';
    // Nothing prepared under that name: committed before (by recovery or a duplicate request), or never
    // prepared. The branch row, written inside the prepared transaction, tells which.
    return (await this.branchState(coordinator, gtid)) === 'committed' ? 'committed' : 'unknown';
  }

  async abort(gtid: string, coordinator: string): Promise<void> {
    const gid = this.gid(coordinator, gtid);
    for (let attempt = 0; ; attempt += 1) {
      await this.finishPrepared(`ROLLBACK PREPARED ${literal(gid)}`, 'ROLLBACK');
      try {
        await this.db.withSession(async (session) => {
          await session.query('BEGIN');
          await session.query(`SET LOCAL lock_timeout = ${Math.floor(this.lockTimeoutMs / 5)}`);
          await session.query(
            `INSERT INTO tx_participant_branch (gtid, coordinator, state) VALUES ($1, $2, 'aborted')
             ON CONFLICT (coordinator, gtid) DO NOTHING`,
            [gtid, coordinator],
          );
          expectCommand(await session.command('COMMIT'), 'COMMIT');
        });
        break;
      } catch (error) {
        // A prepare of the same branch raced in and holds the row: roll it back too, then try again.
        if (pgErrorCode(error) !== PgErrorCode.LockNotAvailable || attempt >= 5) throw error;
      }
    }
    if ((await this.branchState(coordinator, gtid)) === 'committed') {
      throw new Error(`branch ${gtid} is already committed and cannot be aborted`);
    }
  }

  async inDoubt(olderThan: Date): Promise<InDoubtBranch[]> {
    const rows = await this.db.query<{ gid: string; prepared: Date }>(
      `SELECT gid, prepared FROM pg_prepared_xacts
        WHERE database = current_database() AND gid LIKE $1 AND prepared < $2`,
      [`${this.protocol}${SEPARATOR}%`, olderThan],
    );
    return rows.flatMap((row) => {
      const parsed = parseGid(row.gid, this.protocol);
      return parsed ? [{ ...parsed, preparedAt: row.prepared }] : [];
    });
  }

  /**
   * Runs COMMIT PREPARED or ROLLBACK PREPARED; true when this call finished the branch, false when
   * nothing is prepared under that name. While another session finishes the same branch (recovery
   * racing the inline phase two, or a duplicate request) PostgreSQL answers "is busy": wait for it and
   * look again, so the caller learns the settled state instead of an error.
   */
  private async finishPrepared(statement: string, tag: string): Promise<boolean> {
    for (let attempt = 0; ; attempt += 1) {
      try {
        expectCommand(await this.db.command(statement), tag);
        return true;
      } catch (error) {
        const code = pgErrorCode(error);
        if (code === PgErrorCode.UndefinedObject) return false;
        if (code !== PgErrorCode.ObjectNotInPrerequisiteState || attempt >= BUSY_ATTEMPTS) throw error;
        await sleep(Math.min(BUSY_RETRY_MAX_MS, BUSY_RETRY_BASE_MS * 2 ** attempt));
      }
    }
  }

  /** The vote an already-settled branch gives again, or undefined when it is new. */
  private async known(gid: string, coordinator: string, gtid: string): Promise<Vote | undefined> {
    const [row] = await this.db.query<{ prepared: boolean; state: string | null }>(
      `SELECT EXISTS (SELECT 1 FROM pg_prepared_xacts WHERE gid = $1 AND database = current_database()) AS prepared,
              (SELECT state FROM tx_participant_branch WHERE coordinator = $2 AND gtid = $3) AS state`,
      [gid, coordinator, gtid],
    );
    if (row?.prepared || row?.state === 'committed') return { vote: 'yes' };
    if (row?.state === 'aborted') return { vote: 'no', reason: 'branch already aborted' };
    return undefined;
  }

  private async branchState(coordinator: string, gtid: string): Promise<string | undefined> {
    const [row] = await this.db.query<{ state: string }>(
      'SELECT state FROM tx_participant_branch WHERE coordinator = $1 AND gtid = $2',
      [coordinator, gtid],
    );
    return row?.state;
  }
}
