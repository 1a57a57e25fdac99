import { SagaLogStore, InMemorySagaLog } from '@hospital/transactions/testing/saga-memory';
import { InMemoryTccLog, TccLogStore } from '@hospital/transactions/testing/tcc-memory';
import {
  SagaOrchestrator,
  systemClock,
  TccCoordinator,
  type SagaWorkflow,
  type TccWorkflow,
} from '@hospital/transactions';
import { carePlanExample, fullPlanExample } from '../testing/care-plan-examples';
import { MemoryCapacity, MemoryLedger } from '../testing/memory-participants';
import { planRequestOf } from './plan-request';
import { ParticipantRefusedError } from './plan-ports';
import {
  ACTIVATION_ATTEMPTS,
  quotaParticipants,
  quotaSteps,
  sagaWorkflow,
  tccWorkflow,
} from './plan-workflows';
import { reservationsOf, type PlanInput } from './treatment-plan';
import type { TransactionMode } from './transaction-mode';

/**
 * The treatment plan's three workflows on the real saga orchestrator and TCC coordinator, over their
 * in-memory logs, with participants and a plan ledger in memory that keep the capacity contract: what
 * each mode calls, in which order, and what is left applied, held or reserved when a plan is booked and
 * when a participant refuses it.
 */

const FAST = { leaseMs: 5_000, retryBaseMs: 1, retryMaxMs: 5, recoveryRetryBaseMs: 1, recoveryRetryMaxMs: 5 };
let counter = 0;

function planInput(mode: TransactionMode, quantity = 30): PlanInput {
  const carePlan = carePlanExample(fullPlanExample(quantity));
  counter += 1;
  return {
    planId: `plan-${counter}`,
    mode,
    careTeamId: 'team-1',
    carePlan,
    reservations: reservationsOf(planRequestOf(carePlan)),
  };
}

function world() {
  const capacity = new MemoryCapacity()
    .offer('appointments', 'slot:slot-a', 1)
    .offer('appointments', 'slot:slot-b', 1)
    .offer('pacs', 'imaging:CT:2026-12-07', 4)
    .offer('pharmacy', 'drug:197361@ward-3a', 40);
  const ledger = new MemoryLedger();
  const sagaStore = new SagaLogStore(systemClock);
  const tccStore = new TccLogStore(systemClock);
  const deps = {
    ledger,
    capacity,
    sagaReasons: (gtid: string) => Promise.resolve(sagaStore.sagas.get(gtid)?.record.reason),
    tccReasons: (gtid: string) => Promise.resolve(tccStore.transactions.get(gtid)?.record.reason),
  };
  const workflows = { saga: sagaWorkflow(deps), tcc: tccWorkflow(deps) };
  const sagas = new SagaOrchestrator(
    new InMemorySagaLog(sagaStore),
    [workflows.saga] as SagaWorkflow<unknown>[],
    { name: 'spec', stepTimeoutMs: 1_000, ...FAST },
  );
  const tcc = new TccCoordinator(new InMemoryTccLog(tccStore), [workflows.tcc] as TccWorkflow<unknown>[], {
    name: 'spec',
    callTimeoutMs: 1_000,
    ...FAST,
  });
  return { capacity, ledger, workflows, sagas, tcc, sagaStore };
}

describe('treatment plan, saga mode', () => {
  it('records the draft, applies every reservation once under <gtid>:<step>[:<i>], then activates', async () => {
    const w = world();
    const input = planInput('saga');
    const result = await w.sagas.start(w.workflows.saga, input);
    expect(result.outcome).toBe('completed');
    const g = result.gtid;
    expect(w.capacity.calls).toEqual([
      `saga.apply ${g}:consults:0`,
      `saga.apply ${g}:consults:1`,
      `saga.apply ${g}:imaging`,
      `saga.apply ${g}:regimen`,
    ]);
    expect(w.capacity.outstanding()).toEqual({ taken: 33, held: 0, reserved: 0 });
    expect(w.ledger.plans.get(input.planId)).toMatchObject({ gtid: g, status: 'active', events: [] });
  });

  it('on a refusal releases what was applied, last first, and revokes the plan with the reason', async () => {
    const w = world();
    const input = planInput('saga', 41); // more than the ward holds
    const result = await w.sagas.start(w.workflows.saga, input);
    expect(result).toMatchObject({ outcome: 'aborted', failedStep: 'regimen', compensated: true });
    const g = result.gtid;
    expect(w.capacity.calls.filter((c) => c.startsWith('saga.release'))).toEqual([
      `saga.release ${g}:regimen`,
      `saga.release ${g}:imaging`,
      `saga.release ${g}:consults:0`,
      `saga.release ${g}:consults:1`,
    ]);
    expect(w.capacity.outstanding()).toEqual({ taken: 0, held: 0, reserved: 0 });
    const plan = w.ledger.plans.get(input.planId);
    expect(plan?.status).toBe('revoked');
    expect(plan?.reason).toBe('regimen refused: fewer than 41 of drug:197361@ward-3a');
  });

  it('retries a failing activation instead of compensating it', async () => {
    const w = world();
    let failures = 3;
    w.ledger.failingActivation = () => {
      if (failures-- > 0) throw new Error('database restarting');
    };
    const result = await w.sagas.start(w.workflows.saga, planInput('saga'));
    expect(result.outcome).toBe('completed');
    expect(w.capacity.calls.some((c) => c.includes('release'))).toBe(false);
    expect(w.workflows.saga.steps.at(-1)).toMatchObject({ name: 'activate', attempts: ACTIVATION_ATTEMPTS });
  });
});

describe('treatment plan, quota-saga mode', () => {
  it('is one quota reservation per consult, imaging day and regimen, keyed as the other modes key them', () => {
    const input = planInput('quota-saga');
    expect(quotaSteps(input)).toEqual([
      { participant: 'appointments', step: 'consults:0', resource: 'slot:slot-a', units: 1 },
      { participant: 'appointments', step: 'consults:1', resource: 'slot:slot-b', units: 1 },
      { participant: 'pacs', step: 'imaging', resource: 'imaging:CT:2026-12-07', units: 1 },
      { participant: 'pharmacy', step: 'regimen', resource: 'drug:197361@ward-3a', units: 30 },
    ]);
  });

  it("reads a participant's 4xx as a refusal and anything else as transient", async () => {
    const capacity = new MemoryCapacity().offer('pacs', 'imaging:CT:2026-12-07', 1);
    const pacs = quotaParticipants(capacity).pacs;
    const request = { key: 'g1:imaging', gtid: 'g1', resource: 'imaging:CT:2026-12-07', units: 1 };
    expect(await pacs.reserve(request)).toEqual({ outcome: 'reserved', epoch: 'e7' });
    expect(await pacs.hold(request)).toBe('held');
    expect(await pacs.reserve({ ...request, key: 'g2:imaging', gtid: 'g2' })).toMatchObject({
      outcome: 'refused',
    });
    capacity.failing = () => {
      throw new Error('connection reset');
    };
    await expect(pacs.reserve({ ...request, key: 'g3:imaging', gtid: 'g3' })).rejects.toThrow(
      'connection reset',
    );
    capacity.failing = () => {
      throw new ParticipantRefusedError('pacs', 409, 'claim-released');
    };
    expect(await pacs.hold({ ...request, key: 'g3:imaging' })).toBe('refused');
  });
});

describe('treatment plan, tcc mode', () => {
  it('tries every branch with the plan draft, then confirms them all and activates the plan', async () => {
    const w = world();
    const input = planInput('tcc');
    const result = await w.tcc.run(w.workflows.tcc, input);
    expect(result).toMatchObject({ outcome: 'confirmed', settled: true });
    const g = result.gtid;
    expect(w.capacity.calls.filter((c) => c.startsWith('tcc.confirm')).sort()).toEqual(
      [`${g}:consults:0`, `${g}:consults:1`, `${g}:imaging`, `${g}:regimen`]
        .map((k) => `tcc.confirm ${k}`)
        .sort(),
    );
    expect(w.capacity.outstanding()).toEqual({ taken: 33, held: 0, reserved: 0 });
    expect(w.ledger.plans.get(input.planId)?.status).toBe('active');
  });

  it('on a refused Try cancels every branch and revokes the plan with the reason', async () => {
    const w = world();
    const input = planInput('tcc', 41);
    const result = await w.tcc.run(w.workflows.tcc, input);
    expect(result).toMatchObject({ outcome: 'cancelled', failedBranch: 'regimen', settled: true });
    const g = result.gtid;
    expect(w.capacity.calls.filter((c) => c.startsWith('tcc.cancel')).sort()).toEqual(
      [`${g}:consults:0`, `${g}:consults:1`, `${g}:imaging`, `${g}:regimen`]
        .map((k) => `tcc.cancel ${k}`)
        .sort(),
    );
    expect(w.capacity.outstanding()).toEqual({ taken: 0, held: 0, reserved: 0 });
    const plan = w.ledger.plans.get(input.planId);
    expect(plan?.status).toBe('revoked');
    expect(plan?.reason).toBe('regimen: fewer than 41 of drug:197361@ward-3a');
  });

  it('revokes a plan whose draft never arrived, and refuses that draft if it lands later', async () => {
    const w = world();
    w.capacity.failing = (op) => {
      if (op === 'tcc.try') throw new Error('pacs unreachable');
    };
    const input = planInput('tcc');
    // The plan's own Try fails too (as a crash before it would): Cancel records the revoked plan.
    const ledgerTry = w.ledger.recordDraft.bind(w.ledger);
    w.ledger.recordDraft = () => Promise.reject(new Error('lost'));
    const result = await w.tcc.run(w.workflows.tcc, input);
    expect(result.outcome).toBe('cancelled');
    expect(w.ledger.plans.get(input.planId)?.status).toBe('revoked');
    await expect(ledgerTry(input, result.gtid)).rejects.toThrow(/revoked/);
  });
});
