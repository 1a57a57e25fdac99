import { CoordinatorClient } from '../ports/two-phase-commit.ports';
import {
  InMemoryPreparedResource,
  MemoryTx,
  PreparedResourceStore,
  TwoPhaseWorld,
  VirtualClock,
} from '../testing';
import { BranchWork, TwoPhaseParticipant } from './participant';
import { Decision } from './types';

/** Work that writes the payload under the gtid, or refuses when the payload says so. */
const work: BranchWork<MemoryTx> = (tx, payload, gtid) => {
  if (payload === 'refuse') return Promise.reject(new Error('order already cancelled'));
  tx.put(gtid, payload);
  return Promise.resolve();
};

/** A coordinator reached over a stub: answers from `decisions`, or fails like an unreachable service. */
class StubCoordinator implements CoordinatorClient {
  readonly asked: string[] = [];
  reachable = true;
  constructor(readonly decisions: Record<string, Decision> = {}) {}

  outcome(coordinator: string, gtid: string): Promise<Decision> {
    this.asked.push(`${coordinator}/${gtid}`);
    if (!this.reachable) return Promise.reject(new Error(`connection to ${coordinator} refused`));
    return Promise.resolve(this.decisions[gtid] ?? 'abort');
  }
}

function setup(decisions: Record<string, Decision> = {}) {
  const clock = new VirtualClock();
  const store = new PreparedResourceStore('lis');
  const resource = new InMemoryPreparedResource(store, { clock });
  const coordinator = new StubCoordinator(decisions);
  const participant = new TwoPhaseParticipant(
    resource,
    coordinator,
    work,
    { inDoubtAfterMs: 1_000 },
    undefined,
    undefined,
    clock,
  );
  return { clock, store, resource, coordinator, participant };
}

describe('TwoPhaseParticipant over a prepared resource', () => {
  it('votes YES by preparing: the work stays invisible until commit, and survives a restart', async () => {
    const { clock, store, participant } = setup();
    await expect(participant.prepare('g1', 'emr', 'order-1')).resolves.toEqual({ vote: 'yes' });
    expect(store.state('g1')).toBe('prepared');
    expect(store.database.has('g1')).toBe(false);

    // A restarted process opens the same durable store and still finds the branch in doubt.
    const restarted = new InMemoryPreparedResource(store, { clock });
    clock.advance(10);
    await expect(restarted.inDoubt(new Date(clock.now()))).resolves.toEqual([
      { gtid: 'g1', coordinator: 'emr', preparedAt: new Date(clock.now() - 10) },
    ]);
    await expect(restarted.commit('g1', 'emr')).resolves.toBe('committed');
    expect(store.database.get('g1')).toBe('order-1');
  });

  it('prepare is idempotent: a repeated prepare votes YES again without running the work twice', async () => {
    const { resource } = setup();
    let runs = 0;
    const counted = (tx: MemoryTx) => {
      runs += 1;
      tx.put('g1', runs);
      return Promise.resolve();
    };
    await expect(resource.prepare('g1', 'emr', counted)).resolves.toEqual({ vote: 'yes' });
    await expect(resource.prepare('g1', 'emr', counted)).resolves.toEqual({ vote: 'yes' });
    await resource.commit('g1', 'emr');
    await expect(resource.prepare('g1', 'emr', counted)).resolves.toEqual({ vote: 'yes' });
    expect(runs).toBe(1);
  });

  it('votes NO with the reason when the work fails, and keeps nothing', async () => {
    const { store, participant } = setup();
    await expect(participant.prepare('g1', 'emr', 'refuse')).resolves.toEqual({
      vote: 'no',
      reason: 'order already cancelled',
    });
    expect(store.state('g1')).toBeUndefined();
    expect(store.database.has('g1')).toBe(false);
  });

  it('abort drops a prepared branch and leaves a tombstone, so a late prepare votes NO', async () => {
    const { store, participant } = setup();
    await participant.prepare('g1', 'emr', 'order-1');
    await participant.abort('g1', 'emr');
    await participant.abort('g1', 'emr');
    expect(store.state('g1')).toBe('aborted');
    expect(store.database.has('g1')).toBe(false);
    await expect(participant.prepare('g1', 'emr', 'order-1')).resolves.toMatchObject({ vote: 'no' });

    await participant.abort('g2', 'emr'); // an abort that overtook its prepare
    await expect(participant.prepare('g2', 'emr', 'order-2')).resolves.toMatchObject({ vote: 'no' });
    expect(store.prepared()).toEqual([]);
  });

  it('a prepare whose work is still running when the abort lands votes NO and keeps nothing', async () => {
    const { store, resource } = setup();
    const vote = await resource.prepare('g1', 'emr', async (tx) => {
      tx.put('g1', 'order-1');
      await resource.abort('g1', 'emr');
    });
    expect(vote).toMatchObject({ vote: 'no' });
    expect(store.state('g1')).toBe('aborted');
    expect(store.prepared()).toEqual([]);
  });

  it('commit applies the branch once, is idempotent, and answers unknown for a branch never prepared', async () => {
    const { store, participant } = setup();
    await participant.prepare('g1', 'emr', 'order-1');
    await expect(participant.commit('g1', 'emr')).resolves.toBe('committed');
    await expect(participant.commit('g1', 'emr')).resolves.toBe('committed');
    expect(store.database.get('g1')).toBe('order-1');
    await expect(participant.commit('g9', 'emr')).resolves.toBe('unknown');
    expect(store.violations).toEqual([]);
  });

  it('never rolls back a committed branch; an abort order for one is recorded as a protocol violation', async () => {
    const { store, participant } = setup();
    await participant.prepare('g1', 'emr', 'order-1');
    await participant.commit('g1', 'emr');
    await expect(participant.abort('g1', 'emr')).rejects.toThrow(
      'branch g1 is already committed and cannot be aborted',
    );
    expect(store.state('g1')).toBe('committed');
    expect(store.database.get('g1')).toBe('order-1');
    expect(store.violations).toEqual(['lis: abort ordered for committed branch g1']);
  });

  it('recovery asks the coordinator about branches in doubt for too long and applies its answer', async () => {
    const { clock, store, coordinator, participant } = setup({ g1: 'commit', g2: 'abort' });
    await participant.prepare('g1', 'emr', 'order-1');
    await participant.prepare('g2', 'emr', 'order-2');
    clock.advance(500);
    await participant.prepare('g3', 'emr', 'order-3');
    clock.advance(600);

    await expect(participant.recover()).resolves.toBe(2);
    expect(coordinator.asked).toEqual(['emr/g1', 'emr/g2']);
    expect(store.state('g1')).toBe('committed');
    expect(store.database.get('g1')).toBe('order-1');
    expect(store.state('g2')).toBe('aborted');
    expect(store.state('g3')).toBe('prepared'); // not in doubt long enough yet
  });

  it('keeps a branch prepared while its coordinator is unreachable and resolves it on a later sweep', async () => {
    const { clock, store, coordinator, participant } = setup({ g1: 'commit' });
    await participant.prepare('g1', 'emr', 'order-1');
    clock.advance(2_000);
    coordinator.reachable = false;
    await expect(participant.recover()).resolves.toBe(0);
    expect(store.state('g1')).toBe('prepared');

    coordinator.reachable = true;
    await expect(participant.recover()).resolves.toBe(1);
    expect(store.state('g1')).toBe('committed');
  });

  it('an inquiry before the decision aborts the branch everywhere, even though every vote was YES', async () => {
    const world = new TwoPhaseWorld({ participants: ['lis', 'pacs'], participant: { inDoubtAfterMs: 100 } });
    const run = world.submit({
      gtid: 'g1',
      branches: [
        { participant: 'lis', vote: 'yes' },
        { participant: 'pacs', vote: 'yes' },
      ],
      local: 'write',
    });
    // lis prepares; pacs's prepare is slow; lis's sweep finds the branch in doubt and asks.
    const slow = (e: { kind: string; label: string }) => e.label === 'prepare g1' && e.kind !== 'storage';
    await world.settle({ hold: (e) => slow(e) && !(e.kind === 'request' && e.to === 'lis'), timers: false });
    expect(world.store('lis').state('g1')).toBe('prepared');
    await world.advance(101);
    const sweep = world.recoverParticipant('lis');
    await world.settle({ hold: (e) => slow(e), timers: false });
    expect(sweep).toMatchObject({ status: 'done', resolved: 1 });
    expect(world.store('lis').state('g1')).toBe('aborted');

    await world.settle();
    expect(run.status).toBe('aborted');
    expect(world.store('pacs').state('g1')).toBe('aborted');
    expect(world.log.state('g1')).toBe('aborted');
    expect(world.violations).toEqual([]);
    expect(world.checkResolved()).toEqual([]);
  });
});
