import { BranchRecord, GlobalTransactionRecord } from '../ports/global-transaction';
import {
  BranchPhase,
  PreCommitAck,
  ThreePhaseCoordinatorLog,
  ThreePhaseState,
  ThreePhaseStateStore,
  TimedOutBranch,
} from '../ports/three-phase-commit.ports';
import { Decision, GtidInUseError } from '../two-phase-commit/types';
import { PreparedResourceStore } from './in-memory-prepared-resource';

/** The 3PC coordinator log in memory, with the same guards as `PostgresThreePhaseLog`. */
export class InMemoryThreePhaseLog implements ThreePhaseCoordinatorLog {
  readonly records = new Map<string, GlobalTransactionRecord & { leaseUntil: number }>();

  constructor(private readonly now: () => number) {}

  begin(gtid: string, participants: string[], correlationId?: string): Promise<void> {
    if (this.records.has(gtid)) return Promise.reject(new GtidInUseError(gtid));
    const at = new Date(this.now()).toISOString();
    this.records.set(gtid, {
      gtid,
      ...(correlationId ? { correlationId } : {}),
      style: '3pc',
      state: 'preparing',
      branches: participants.map((participant) => ({ participant, state: 'pending' })),
      timeline: [{ at, event: 'started' }],
      retries: 0,
      createdAt: at,
      updatedAt: at,
      leaseUntil: 0,
    });
    return Promise.resolve();
  }

  precommit(gtid: string, branches: BranchRecord[]): Promise<Decision> {
    const record = this.records.get(gtid);
    if (record?.state === 'preparing')
      this.records.set(gtid, { ...record, state: 'precommitting', branches });
    const state = this.records.get(gtid)?.state;
    return Promise.resolve(
      state === 'precommitting' || state === 'committing' || state === 'committed' ? 'commit' : 'abort',
    );
  }

  decideCommit(gtid: string, branches: BranchRecord[]): Promise<void> {
    const record = this.records.get(gtid);
    if (record?.state === 'precommitting')
      this.records.set(gtid, { ...record, state: 'committing', branches });
    return Promise.resolve();
  }

  decideAbort(
    gtid: string,
    reason: string,
    options: { branches?: BranchRecord[]; overPrecommit?: boolean } = {},
  ): Promise<ThreePhaseState> {
    const record = this.records.get(gtid);
    if (!record) {
      const at = new Date(this.now()).toISOString();
      this.records.set(gtid, {
        gtid,
        style: '3pc',
        state: 'aborting',
        branches: options.branches ?? [],
        timeline: [],
        retries: 0,
        lastError: reason,
        createdAt: at,
        updatedAt: at,
        leaseUntil: 0,
      });
    } else if (record.state === 'preparing' || (options.overPrecommit && record.state === 'precommitting'))
      this.records.set(gtid, { ...record, state: 'aborting', lastError: reason });
    return Promise.resolve(this.records.get(gtid)?.state as ThreePhaseState);
  }

  complete(gtid: string, decision: Decision, branches: BranchRecord[]): Promise<void> {
    const record = this.records.get(gtid);
    if (record && (record.state === 'committing' || record.state === 'aborting'))
      this.records.set(gtid, { ...record, state: decision === 'commit' ? 'committed' : 'aborted', branches });
    return Promise.resolve();
  }

  noteRetry(gtid: string, error: string, retryAfterMs?: number): Promise<void> {
    const record = this.records.get(gtid);
    if (record)
      this.records.set(gtid, {
        ...record,
        retries: record.retries + 1,
        lastError: error,
        leaseUntil: retryAfterMs === undefined ? record.leaseUntil : this.now() + retryAfterMs,
      });
    return Promise.resolve();
  }

  /** Every unfinished record whose lease ran out (the simulated worlds run one recovery at a time). */
  claimUnfinished(limit: number, leaseMs: number): Promise<GlobalTransactionRecord[]> {
    const claimed = [...this.records.values()]
      .filter((r) => !['committed', 'aborted'].includes(r.state) && r.leaseUntil <= this.now())
      .slice(0, limit);
    for (const r of claimed) this.records.set(r.gtid, { ...r, leaseUntil: this.now() + leaseMs });
    return Promise.resolve(claimed);
  }

  state(gtid: string): Promise<ThreePhaseState | undefined> {
    return Promise.resolve(this.records.get(gtid)?.state as ThreePhaseState | undefined);
  }
}

/**
 * A participant's 3PC phases in memory, beside an in-memory prepared resource's branches, with the
 * same first-writer-wins rule as `PostgresThreePhaseStates`.
 */
export class InMemoryThreePhaseStates implements ThreePhaseStateStore {
  readonly phases = new Map<string, { phase: 'precommitted' | 'aborted'; peers: string[]; at: number }>();

  constructor(
    private readonly branches: PreparedResourceStore,
    private readonly now: () => number,
  ) {}

  precommit(gtid: string, _coordinator: string, peers: string[]): Promise<PreCommitAck | 'not-prepared'> {
    const branch = this.branches.branches.get(gtid);
    const recorded = this.phases.get(gtid);
    if (!recorded && branch?.state === 'prepared') {
      this.phases.set(gtid, { phase: 'precommitted', peers, at: this.now() });
      return Promise.resolve('precommitted');
    }
    if (recorded?.phase === 'aborted' || branch?.state === 'aborted') return Promise.resolve('aborted');
    if (branch?.state === 'committed') return Promise.resolve('committed');
    return Promise.resolve(recorded ? 'precommitted' : 'not-prepared');
  }

  markAborted(
    gtid: string,
    _coordinator: string,
    overPrecommit: boolean,
  ): Promise<'aborted' | 'precommitted'> {
    const recorded = this.phases.get(gtid);
    if (!recorded || overPrecommit) this.phases.set(gtid, { phase: 'aborted', peers: [], at: this.now() });
    return Promise.resolve(this.phases.get(gtid)?.phase ?? 'aborted');
  }

  phase(gtid: string): Promise<BranchPhase | undefined> {
    return Promise.resolve(this.phases.get(gtid)?.phase);
  }

  timedOut(uncertainAfterMs: number, precommittedAfterMs: number, limit: number): Promise<TimedOutBranch[]> {
    const now = this.now();
    return Promise.resolve(
      this.branches
        .prepared()
        .flatMap((b): TimedOutBranch[] => {
          const recorded = this.phases.get(b.gtid);
          const base = { gtid: b.gtid, coordinator: b.coordinator, peers: recorded?.peers ?? [] };
          if (!recorded)
            return (b.preparedAt ?? 0) <= now - uncertainAfterMs ? [{ ...base, phase: 'uncertain' }] : [];
          if (recorded.phase === 'aborted') return [{ ...base, phase: 'aborted' }];
          return recorded.at <= now - precommittedAfterMs ? [{ ...base, phase: 'precommitted' }] : [];
        })
        .slice(0, limit),
    );
  }
}
