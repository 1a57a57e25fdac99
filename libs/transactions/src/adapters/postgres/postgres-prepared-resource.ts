import { Database, firstFailure, PgErrorCode, pgErrorCode, Session } from '@hospital/platform';
import { errorMessage } from '../../core/observer';
import { InDoubtBranch, PreparedResource } from '../../ports/two-phase-commit.ports';
import { CommitAck, Vote } from '../../two-phase-commit/types';

const GID_PREFIX = '2pc';
const SEPARATOR = '|';

/**
 * PostgreSQL identifier of a branch: `2pc|<coordinator>|<gtid>|<database>`. Prepared-transaction ids are
 * unique across the whole server, and several participants of one global transaction may share a server,
 * so the participant's database is part of it.
 */
export function branchGid(coordinator: string, gtid: string, database: string): string {
  return [GID_PREFIX, coordinator, gtid, database].join(SEPARATOR);
}

function parseGid(gid: string): { coordinator: string; gtid: string } | undefined {
  const [prefix, coordinator, gtid] = gid.split(SEPARATOR);
  return prefix === GID_PREFIX && coordinator && gtid ? { coordinator, gtid } : undefined;
}

const likeEscape = (value: string): string => value.replace(/[\\%_]/g, (c) => `\\${c}`);

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
  ) {}

  async prepare(gtid: string, coordinator: string, work: (tx: Session) => Promise<void>): Promise<Vote> {
    const gid = branchGid(coordinator, gtid, this.db.settings.database);
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
        await session.query(`PREPARE TRANSACTION ${literal(gid)}`);
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
          const settled = await this.known(gid, gtid);
          if (settled) return settled;
        }
        return { vote: 'no', reason: errorMessage(error) } as const;
      }
    });
  }

  async commit(gtid: string, coordinator?: string): Promise<CommitAck> {
    const gid =
      coordinator === undefined
        ? await this.preparedGid(gtid)
        : branchGid(coordinator, gtid, this.db.settings.database);
    if (gid) {
      try {
        await this.db.query(`COMMIT PREPARED ${literal(gid)}`);
        return 'committed';
      } catch (error) {
        // Committed concurrently by recovery or a duplicate request: fall through to the branch row.
        if (pgErrorCode(error) !== PgErrorCode.UndefinedObject) throw error;
      }
    }
    return (await this.branchState(gtid)) === 'committed' ? 'committed' : 'unknown';
  }

  async abort(gtid: string, coordinator?: string): Promise<void> {
    for (let attempt = 0; ; attempt += 1) {
      await this.rollbackPrepared(gtid, coordinator);
      try {
        await this.db.withSession(async (session) => {
          await session.query('BEGIN');
          await session.query(`SET LOCAL lock_timeout = ${Math.floor(this.lockTimeoutMs / 5)}`);
          await session.query(
            `INSERT INTO tx_participant_branch (gtid, coordinator, state) VALUES ($1, '', 'aborted')
             ON CONFLICT (gtid) DO NOTHING`,
            [gtid],
          );
          await session.query('COMMIT');
        });
        break;
      } catch (error) {
        // A prepare of the same branch raced in and holds the row: roll it back too, then try again.
        if (pgErrorCode(error) !== PgErrorCode.LockNotAvailable || attempt >= 5) throw error;
      }
    }
    if ((await this.branchState(gtid)) === 'committed') {
      throw new Error(`branch ${gtid} is already committed and cannot be aborted`);
    }
  }

  async inDoubt(olderThan: Date): Promise<InDoubtBranch[]> {
    const rows = await this.db.query<{ gid: string; prepared: Date }>(
      `SELECT gid, prepared FROM pg_prepared_xacts
        WHERE database = current_database() AND gid LIKE $1 AND prepared < $2`,
      [`${GID_PREFIX}${SEPARATOR}%`, olderThan],
    );
    return rows.flatMap((row) => {
      const parsed = parseGid(row.gid);
      return parsed ? [{ ...parsed, preparedAt: row.prepared }] : [];
    });
  }

  private async rollbackPrepared(gtid: string, coordinator?: string): Promise<void> {
    const gid =
      coordinator === undefined
        ? await this.preparedGid(gtid)
        : branchGid(coordinator, gtid, this.db.settings.database);
    if (!gid) return;
    try {
      await this.db.query(`ROLLBACK PREPARED ${literal(gid)}`);
    } catch (error) {
      if (pgErrorCode(error) !== PgErrorCode.UndefinedObject) throw error;
    }
  }

  /** The vote an already-settled branch gives again, or undefined when it is new. */
  private async known(gid: string, gtid: string): Promise<Vote | undefined> {
    const [row] = await this.db.query<{ prepared: boolean; state: string | null }>(
      `SELECT EXISTS (SELECT 1 FROM pg_prepared_xacts WHERE gid = $1 AND database = current_database()) AS prepared,
              (SELECT state FROM tx_participant_branch WHERE gtid = $2) AS state`,
      [gid, gtid],
    );
    if (row?.prepared || row?.state === 'committed') return { vote: 'yes' };
    if (row?.state === 'aborted') return { vote: 'no', reason: 'branch already aborted' };
    return undefined;
  }

  private async preparedGid(gtid: string): Promise<string | undefined> {
    const [row] = await this.db.query<{ gid: string }>(
      `SELECT gid FROM pg_prepared_xacts WHERE database = current_database() AND gid LIKE $1`,
      [
        `${GID_PREFIX}${SEPARATOR}%${SEPARATOR}${likeEscape(gtid)}${SEPARATOR}${likeEscape(this.db.settings.database)}`,
      ],
    );
    return row?.gid;
  }

  private async branchState(gtid: string): Promise<string | undefined> {
    const [row] = await this.db.query<{ state: string }>(
      'SELECT state FROM tx_participant_branch WHERE gtid = $1',
      [gtid],
    );
    return row?.state;
  }
}
