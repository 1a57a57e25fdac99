import { Database } from '@hospital/platform';
import {
  BranchPhase,
  PreCommitAck,
  ThreePhaseStateStore,
  TimedOutBranch,
} from '../../ports/three-phase-commit.ports';
import { PostgresPreparedResource } from './postgres-prepared-resource';

/**
 * A 3PC participant's phases in `tx_3pc_branch` (`threePhaseMigrations`), beside the branches that
 * `resource` (a `PostgresPreparedResource` for protocol `3pc`) holds prepared. PreCommit is recorded only
 * for a branch still prepared, and with synchronous commit: a participant that acknowledged it commits
 * even if the coordinator never speaks again.
 */
export class PostgresThreePhaseStates implements ThreePhaseStateStore {
  constructor(
    private readonly db: Database,
    private readonly resource: PostgresPreparedResource,
  ) {
    if (resource.protocol !== '3pc') throw new Error('3PC phases need a prepared resource of protocol 3pc');
  }

  async precommit(
    gtid: string,
    coordinator: string,
    peers: string[],
  ): Promise<PreCommitAck | 'not-prepared'> {
    const [row] = await this.db.query<{ inserted: boolean; prepared: boolean; settled: string | null }>(
      `WITH here AS (
         SELECT EXISTS (SELECT 1 FROM pg_prepared_xacts WHERE gid = $3 AND database = current_database()) AS prepared,
                (SELECT state FROM tx_participant_branch WHERE coordinator = $1 AND gtid = $2) AS settled
       ), ins AS (
         INSERT INTO tx_3pc_branch (coordinator, gtid, phase, peers)
         SELECT $1, $2, 'precommitted', $4 FROM here WHERE prepared
         ON CONFLICT (coordinator, gtid) DO NOTHING
         RETURNING 1
       )
       SELECT EXISTS (SELECT 1 FROM ins) AS inserted, prepared, settled FROM here`,
      [coordinator, gtid, this.resource.gid(coordinator, gtid), peers],
    );
    if (row?.inserted) return 'precommitted';
    // Recorded before (a repeat, a peer's termination, or an abort that got there first), or not prepared.
    const phase = await this.phase(gtid, coordinator);
    if (phase === 'aborted') return 'aborted';
    const settled =
      row?.settled ??
      (
        await this.db.query<{ state: string }>(
          'SELECT state FROM tx_participant_branch WHERE coordinator = $1 AND gtid = $2',
          [coordinator, gtid],
        )
      )[0]?.state;
    if (settled === 'committed') return 'committed';
    if (settled === 'aborted') return 'aborted';
    return phase === 'precommitted' ? 'precommitted' : 'not-prepared';
  }

  async markAborted(
    gtid: string,
    coordinator: string,
    overPrecommit: boolean,
  ): Promise<'aborted' | 'precommitted'> {
    const [row] = await this.db.query<{ phase: 'aborted' }>(
      `INSERT INTO tx_3pc_branch (coordinator, gtid, phase) VALUES ($1, $2, 'aborted')
       ON CONFLICT (coordinator, gtid) DO UPDATE SET phase = 'aborted', updated_at = now() WHERE $3
       RETURNING phase`,
      [coordinator, gtid, overPrecommit],
    );
    if (row) return 'aborted';
    return (await this.phase(gtid, coordinator)) === 'aborted' ? 'aborted' : 'precommitted';
  }

  async phase(gtid: string, coordinator: string): Promise<BranchPhase | undefined> {
    const [row] = await this.db.query<{ phase: BranchPhase }>(
      'SELECT phase FROM tx_3pc_branch WHERE coordinator = $1 AND gtid = $2',
      [coordinator, gtid],
    );
    return row?.phase;
  }

  async timedOut(
    uncertainAfterMs: number,
    precommittedAfterMs: number,
    limit: number,
  ): Promise<TimedOutBranch[]> {
    return this.db.query<TimedOutBranch>(
      `SELECT split_part(p.gid, '|', 2) AS coordinator, split_part(p.gid, '|', 3) AS gtid,
              coalesce(b.phase, 'uncertain') AS phase, coalesce(b.peers, '{}') AS peers
         FROM pg_prepared_xacts p
         LEFT JOIN tx_3pc_branch b
           ON b.coordinator = split_part(p.gid, '|', 2) AND b.gtid = split_part(p.gid, '|', 3)
        WHERE p.database = current_database() AND p.gid LIKE '3pc|%'
          AND ((b.phase IS NULL AND p.prepared < now() - $1 * interval '1 millisecond')
            OR (b.phase = 'precommitted' AND b.updated_at < now() - $2 * interval '1 millisecond')
            OR b.phase = 'aborted')
        ORDER BY p.prepared
        LIMIT $3`,
      [uncertainAfterMs, precommittedAfterMs, limit],
    );
  }
}
