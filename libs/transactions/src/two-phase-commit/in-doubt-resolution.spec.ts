import { CoordinatorClient, ParticipantClient } from '../ports/two-phase-commit.ports';
import {
  CoordinatorLogStore,
  InMemoryCoordinatorLog,
  InMemoryPreparedResource,
  MemoryTx,
  PreparedResourceStore,
  VirtualClock,
} from '../testing';
import { TwoPhaseCoordinator } from './coordinator';
import { BranchWork, TwoPhaseParticipant } from './participant';
import { Decision, InDoubtVerdict, NotInDoubtError, ResolutionConflictError } from './types';

const work: BranchWork<MemoryTx> = (tx, payload, gtid) => {
  tx.put(gtid, payload);
  return Promise.resolve();
};

/** A coordinator that answers from `decisions`, or is unreachable. */
class StubCoordinator implements CoordinatorClient {
  reachable = true;
  constructor(readonly decisions: Record<string, Decision> = {}) {}
  outcome(coordinator: string, gtid: string): Promise<Decision> {
    if (!this.reachable) return Promise.reject(new Error(`connection to ${coordinator} refused`));
    return Promise.resolve(this.decisions[gtid] ?? 'abort');
  }
}

function participantSetup(decisions: Record<string, Decision> = {}) {
  const clock = new VirtualClock();
  const store = new PreparedResourceStore('lis');
  const coordinator = new StubCoordinator(decisions);
  const participant = new TwoPhaseParticipant(
    new InMemoryPreparedResource(store, { clock }),
    coordinator,
    work,
    { inDoubtAfterMs: 1_000 },
    undefined,
    undefined,
    clock,
  );
  return { clock, store, coordinator, participant };
}

describe('resolving an in-doubt branch on an operator’s request', () => {
  it('applies the coordinator’s decision when it answers, after recording the verdict', async () => {
    const { store, participant } = participantSetup({ g1: 'commit' });
    await participant.prepare('g1', 'emr', 'order');
    const [branch] = await participant.prepared();
    const recorded: { verdict: InDoubtVerdict; state: string | undefined }[] = [];
    const verdict = await participant.resolveInDoubt(branch, 'commit', (v) => {
      recorded.push({ verdict: v, state: store.state('g1') });
      return Promise.resolve();
    });
    expect(verdict).toEqual({ gtid: 'g1', decision: 'commit', heuristic: false });
    // Recorded while still prepared: the record comes before the change.
    expect(recorded).toEqual([{ verdict, state: 'prepared' }]);
    expect(store.state('g1')).toBe('committed');
  });

  it('refuses a decision the coordinator contradicts, and changes nothing', async () => {
    const { store, participant } = participantSetup({ g1: 'commit' });
    await participant.prepare('g1', 'emr', 'order');
    const [branch] = await participant.prepared();
    const record = jest.fn(() => Promise.resolve());
    await expect(participant.resolveInDoubt(branch, 'abort', record)).rejects.toThrow(
      ResolutionConflictError,
    );
    expect(record).not.toHaveBeenCalled();
    expect(store.state('g1')).toBe('prepared');
  });

  it('applies the operator’s decision heuristically when the coordinator is unreachable, only once in doubt', async () => {
    const { clock, store, coordinator, participant } = participantSetup({ g1: 'commit' });
    coordinator.reachable = false;
    await participant.prepare('g1', 'emr', 'order');
    const [branch] = await participant.prepared();
    await expect(participant.resolveInDoubt(branch, 'abort')).rejects.toThrow(/not in doubt yet/);
    expect(store.state('g1')).toBe('prepared');

    clock.advance(1_001);
    const verdict = await participant.resolveInDoubt(branch, 'abort');
    expect(verdict).toMatchObject({ gtid: 'g1', decision: 'abort', heuristic: true });
    expect(verdict.coordinatorError).toMatch(/refused/);
    expect(store.state('g1')).toBe('aborted');
  });

  it('does not apply the decision when recording it fails', async () => {
    const { store, participant } = participantSetup({ g1: 'commit' });
    await participant.prepare('g1', 'emr', 'order');
    const [branch] = await participant.prepared();
    await expect(
      participant.resolveInDoubt(branch, 'commit', () => Promise.reject(new Error('log down'))),
    ).rejects.toThrow('log down');
    expect(store.state('g1')).toBe('prepared');
  });
});

describe('resolving an unfinished global transaction on an operator’s request', () => {
  function coordinatorSetup() {
    const clock = new VirtualClock();
    const store = new CoordinatorLogStore();
    const log = new InMemoryCoordinatorLog(store, { clock });
    const told: string[] = [];
    const lis: ParticipantClient = {
      name: 'lis',
      prepare: () => Promise.resolve({ vote: 'yes' }),
      commit: (gtid) => {
        told.push(`commit ${gtid}`);
        return Promise.resolve('committed');
      },
      abort: (gtid) => {
        told.push(`abort ${gtid}`);
        return Promise.resolve();
      },
    };
    const coordinator = new TwoPhaseCoordinator(log, [lis], { name: 'emr' }, undefined, undefined, clock);
    return { log, store, told, coordinator };
  }

  it('aborts one still preparing and refuses to commit it', async () => {
    const { log, told, coordinator } = coordinatorSetup();
    await log.begin('g1', ['lis']);
    const record = await log.get('g1');
    if (!record) throw new Error('no record');
    await expect(coordinator.resolveUnfinished(record, 'commit')).rejects.toThrow(ResolutionConflictError);
    expect(await log.state('g1')).toBe('preparing');
    expect(told).toEqual([]);

    await expect(coordinator.resolveUnfinished(record, 'abort')).resolves.toEqual({
      gtid: 'g1',
      decision: 'abort',
      heuristic: false,
      acknowledged: true,
    });
    expect(told).toEqual(['abort g1']);
    expect(await log.state('g1')).toBe('aborted');
  });

  it('drives phase two of one decided, refuses the other decision, and will not touch a finished one', async () => {
    const { log, told, coordinator } = coordinatorSetup();
    await log.begin('g1', ['lis']);
    await log.decideCommit('g1', [{ participant: 'lis', state: 'prepared' }]);
    const record = await log.get('g1');
    if (!record) throw new Error('no record');
    await expect(coordinator.resolveUnfinished(record, 'abort')).rejects.toThrow(/decided commit/);
    expect(told).toEqual([]);
    const result = await coordinator.resolveUnfinished(record, 'commit');
    expect(result).toMatchObject({ decision: 'commit', acknowledged: true });
    expect(told).toEqual(['commit g1']);
    expect(await log.state('g1')).toBe('committed');
    const finished = await log.get('g1');
    if (!finished) throw new Error('no record');
    await expect(coordinator.resolveUnfinished(finished, 'commit')).rejects.toThrow(NotInDoubtError);
  });
});
