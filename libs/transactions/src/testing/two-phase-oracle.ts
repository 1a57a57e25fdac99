// The oracle of a simulated two-phase-commit deployment (see two-phase-world.ts): safety, which must hold
// after every step, and resolution, once faults have stopped and recovery ran.
import { errorMessage } from '../core/observer';
import { OutcomeUnknownError } from '../two-phase-commit/types';
import { CoordinatorLogStore } from './in-memory-coordinator-log';
import { PreparedResourceStore } from './in-memory-prepared-resource';
import { StorageFailure } from './simulated-network';
import { Execution, LocalWorkError, Sweep } from './two-phase-simulation';

/** What the oracle reads of a world: the durable state of every node and what callers and sweeps learned. */
export interface TwoPhaseOutcomes {
  readonly log: CoordinatorLogStore;
  readonly participantStores: ReadonlyMap<string, PreparedResourceStore>;
  readonly executions: readonly Execution[];
  readonly sweeps: readonly Sweep[];
}

/** Every gtid the world has seen: submitted, logged, or held by a participant. */
/** Every gtid the world has seen: submitted, logged, or held by a participant. */
export function allGtids(outcomes: TwoPhaseOutcomes): string[] {
  const all = new Set<string>(outcomes.executions.map((e) => e.tx.gtid));
  for (const gtid of outcomes.log.records.keys()) all.add(gtid);
  for (const store of outcomes.participantStores.values())
    for (const gtid of store.branches.keys()) all.add(gtid);
  return [...all];
}

/**
 * Safety, which must hold after every step: no gtid committed at one participant and aborted at
 * another; no committed branch without a durable COMMIT; COMMIT never recorded for an aborted branch;
 * a participant's rows present iff its branch committed; the coordinator's own row present iff COMMIT
 * is recorded; no COMMIT when a branch's business step refused; what `execute` told its caller agrees
 * with the log (a caller is never told of a failure while COMMIT is recorded); no adapter saw an
 * impossible order.
 */
export function safetyProblems(outcomes: TwoPhaseOutcomes, checksRows: boolean): string[] {
  const problems: string[] = [...outcomes.log.violations];
  for (const store of outcomes.participantStores.values()) problems.push(...store.violations);
  for (const gtid of allGtids(outcomes)) {
    const decision = outcomes.log.decision(gtid);
    const logState = outcomes.log.state(gtid) ?? 'no record';
    const committedAt: string[] = [];
    const abortedAt: string[] = [];
    for (const store of outcomes.participantStores.values()) {
      const state = store.state(gtid);
      if (state === 'committed') committedAt.push(store.name);
      if (state === 'aborted') abortedAt.push(store.name);
      if (checksRows && store.database.has(gtid) !== (state === 'committed')) {
        problems.push(
          `${gtid}: ${store.name} has ${state ?? 'no'} branch but its rows are ${store.database.has(gtid) ? 'present' : 'missing'}`,
        );
      }
    }
    if (committedAt.length > 0 && abortedAt.length > 0) {
      problems.push(`${gtid}: committed at ${committedAt.join(',')} but aborted at ${abortedAt.join(',')}`);
    }
    if (committedAt.length > 0 && decision !== 'commit') {
      problems.push(
        `${gtid}: committed at ${committedAt.join(',')} without a durable COMMIT (log: ${logState})`,
      );
    }
    if (decision === 'commit' && abortedAt.length > 0) {
      problems.push(`${gtid}: COMMIT recorded but the branch at ${abortedAt.join(',')} was aborted`);
    }
    const executions = outcomes.executions.filter((e) => e.tx.gtid === gtid);
    const writesLocally = executions.some((e) => e.tx.local === 'write');
    if (outcomes.log.database.has(gtid) !== (decision === 'commit' && writesLocally)) {
      problems.push(
        `${gtid}: coordinator's own row ${outcomes.log.database.has(gtid) ? 'present' : 'missing'} with log ${logState}`,
      );
    }
    for (const e of executions) {
      const refusing = e.tx.branches.filter((b) => b.vote === 'no').map((b) => b.participant);
      if (decision === 'commit' && refusing.length > 0) {
        problems.push(`${gtid}: COMMIT recorded although the branch at ${refusing.join(',')} refused`);
      }
      if (e.status === 'committed' && decision !== 'commit') {
        problems.push(`${gtid}: execute reported committed but the log holds ${logState}`);
      }
      // The one excuse for a failure while COMMIT is recorded: the decision write itself failed, so the
      // coordinator could not learn the outcome (the caller must then treat it as unknown).
      const outcomeUnknown =
        e.error instanceof OutcomeUnknownError ||
        (e.error instanceof StorageFailure && /decide-(commit|abort)/.test(e.error.operation));
      if ((e.status === 'aborted' || e.status === 'failed') && decision === 'commit' && !outcomeUnknown) {
        problems.push(`${gtid}: execute reported ${e.status} but the log holds ${logState}`);
      }
      const expectedError =
        (e.tx.local === 'throw' && e.error instanceof LocalWorkError) ||
        e.error instanceof StorageFailure ||
        e.error instanceof OutcomeUnknownError;
      if (e.status === 'failed' && !expectedError) {
        problems.push(`${gtid}: execute failed with an unexpected error: ${errorMessage(e.error)}`);
      }
    }
  }
  for (const sweep of outcomes.sweeps) {
    if (sweep.status === 'failed' && !(sweep.error instanceof StorageFailure))
      problems.push(`recovery sweep on ${sweep.node} failed: ${errorMessage(sweep.error)}`);
  }
  return [...new Set(problems)];
}

/**
 * Liveness, once faults have stopped and recovery ran: every gtid fully committed (log committed,
 * every branch committed) or fully absent (log aborted or no record, nothing committed or prepared
 * anywhere); no prepared branch left behind; every `execute` and sweep on a live node finished.
 */
export function resolutionProblems(outcomes: TwoPhaseOutcomes): string[] {
  const problems: string[] = [];
  for (const gtid of allGtids(outcomes)) {
    const state = outcomes.log.state(gtid);
    const decision = outcomes.log.decision(gtid);
    if (state === 'preparing' || state === 'committing' || state === 'aborting') {
      problems.push(`${gtid}: log record still ${state}`);
    }
    const expected = new Set<string>(
      outcomes.log.records.get(gtid)?.branches.map((b) => b.participant) ?? [],
    );
    for (const e of outcomes.executions)
      if (e.tx.gtid === gtid) for (const b of e.tx.branches) expected.add(b.participant);
    for (const store of outcomes.participantStores.values()) {
      const branch = store.state(gtid);
      if (decision === 'commit' && expected.has(store.name) && branch !== 'committed') {
        problems.push(`${gtid}: COMMIT recorded but ${store.name}'s branch is ${branch ?? 'absent'}`);
      }
      if (decision !== 'commit' && (branch === 'committed' || branch === 'prepared')) {
        problems.push(`${gtid}: not committed (log: ${state ?? 'no record'}) but ${branch} at ${store.name}`);
      }
    }
  }
  for (const store of outcomes.participantStores.values()) {
    for (const branch of store.prepared()) problems.push(`${store.name} still holds ${branch.gtid} prepared`);
  }
  for (const e of outcomes.executions)
    if (e.status === 'pending') problems.push(`execute of ${e.tx.gtid} never settled`);
  for (const s of outcomes.sweeps)
    if (s.status === 'running') problems.push(`recovery sweep on ${s.node} never finished`);
  return [...new Set(problems)];
}
