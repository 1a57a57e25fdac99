import { ProtocolPoint } from '../core/protocol-points';
import { SagaLeaseLostError } from '../ports/saga.ports';
import { InMemorySagaLog, SagaLogStore } from '../testing/saga-memory';
import { SagaOrchestrator, SagaOrchestratorOptions } from './orchestrator';
import {
  defineSaga,
  SagaCompensationContext,
  SagaStepContext,
  SagaUnfinishedError,
  SagaWorkflow,
  StepRefusedError,
} from './types';

/** A participant per step that records every call; `behave` decides each action's answer. */
interface Call {
  what: 'action' | 'compensate';
  step: string;
  attempt: number;
  actionDone?: boolean;
  result?: unknown;
}

interface Input {
  patient: string;
}

function workflowOf(
  calls: Call[],
  behave: (step: string, attempt: number) => 'ok' | 'refuse' | 'fail' = () => 'ok',
  compensationFailures: Record<string, number> = {},
): SagaWorkflow<Input> {
  const failed: Record<string, number> = {};
  const step = (name: string) => ({
    name,
    action: (input: Input, context: SagaStepContext) => {
      calls.push({ what: 'action', step: name, attempt: context.attempt });
      const answer = behave(name, context.attempt);
      if (answer === 'refuse') return Promise.reject(new StepRefusedError(`${name} has no capacity`));
      if (answer === 'fail') return Promise.reject(new Error(`${name} unavailable`));
      return Promise.resolve({ booked: `${name}:${input.patient}`, seen: Object.keys(context.results) });
    },
    compensate: (_input: Input, context: SagaCompensationContext) => {
      calls.push({
        what: 'compensate',
        step: name,
        attempt: context.attempt,
        actionDone: context.actionDone,
        result: context.result,
      });
      failed[name] = (failed[name] ?? 0) + 1;
      if (failed[name] <= (compensationFailures[name] ?? 0))
        return Promise.reject(new Error(`${name} unavailable`));
      return Promise.resolve();
    },
  });
  return defineSaga<Input>('treatment-plan', [step('appointments'), step('pacs'), step('pharmacy')]);
}

describe('SagaOrchestrator', () => {
  let now: number;
  let store: SagaLogStore;
  const options = (extra: Partial<SagaOrchestratorOptions> = {}) => ({
    name: 'care-plans-1',
    leaseMs: 1_000,
    stepTimeoutMs: 200,
    retryBaseMs: 1,
    retryMaxMs: 2,
    ...extra,
  });
  const orchestrator = (workflow: SagaWorkflow<Input>, extra: Partial<SagaOrchestratorOptions> = {}) =>
    new SagaOrchestrator(new InMemorySagaLog(store), [workflow], options(extra));

  beforeEach(() => {
    now = Date.UTC(2026, 0, 1);
    store = new SagaLogStore({ now: () => now });
  });

  afterEach(() => expect(store.violations).toEqual([]));

  it('runs every step in order, handing earlier results on, and completes', async () => {
    const calls: Call[] = [];
    const workflow = workflowOf(calls);
    const result = await orchestrator(workflow).start(workflow, { patient: 'p1' });

    expect(result).toEqual({
      gtid: expect.any(String),
      outcome: 'completed',
      results: {
        appointments: { booked: 'appointments:p1', seen: [] },
        pacs: { booked: 'pacs:p1', seen: ['appointments'] },
        pharmacy: { booked: 'pharmacy:p1', seen: ['appointments', 'pacs'] },
      },
    });
    expect(calls.map((c) => `${c.what} ${c.step}`)).toEqual([
      'action appointments',
      'action pacs',
      'action pharmacy',
    ]);
    const saga = store.sagas.get(result.gtid);
    expect(saga?.record.state).toBe('completed');
    expect(saga?.record.steps.map((s) => s.status)).toEqual(['done', 'done', 'done']);
    expect(saga?.lease).toBeUndefined();
    expect(saga?.timeline).toEqual([
      'started',
      'step 0 started (attempt 1)',
      'step 0 done',
      'step 1 started (attempt 1)',
      'step 1 done',
      'step 2 started (attempt 1)',
      'step 2 done',
      'completed',
    ]);
  });

  it('compensates a refused step and the done ones before it, in reverse, and never runs the rest', async () => {
    const calls: Call[] = [];
    const workflow = workflowOf(calls, (step) => (step === 'pacs' ? 'refuse' : 'ok'));
    const result = await orchestrator(workflow).start(workflow, { patient: 'p1' });

    expect(result).toMatchObject({
      outcome: 'aborted',
      failedStep: 'pacs',
      reason: 'pacs refused: pacs has no capacity',
      compensated: true,
    });
    expect(calls).toEqual([
      { what: 'action', step: 'appointments', attempt: 1 },
      { what: 'action', step: 'pacs', attempt: 1 },
      // The refused step may have partly happened: it is compensated too, without a result.
      { what: 'compensate', step: 'pacs', attempt: 1, actionDone: false, result: undefined },
      {
        what: 'compensate',
        step: 'appointments',
        attempt: 1,
        actionDone: true,
        result: { booked: 'appointments:p1', seen: [] },
      },
    ]);
    const saga = store.sagas.get(result.gtid)?.record;
    expect(saga?.state).toBe('aborted');
    expect(saga?.steps.map((s) => s.status)).toEqual(['compensated', 'compensated', 'pending']);
  });

  it('retries a transient failure within the step attempts, and compensates once they are used up', async () => {
    const calls: Call[] = [];
    const flaky = workflowOf(calls, (step, attempt) => (step === 'pacs' && attempt < 3 ? 'fail' : 'ok'));
    expect(await orchestrator(flaky).start(flaky, { patient: 'p1' })).toMatchObject({
      outcome: 'completed',
    });
    expect(calls.filter((c) => c.step === 'pacs').map((c) => c.attempt)).toEqual([1, 2, 3]);

    const down: Call[] = [];
    const broken = workflowOf(down, (step) => (step === 'pacs' ? 'fail' : 'ok'));
    const result = await orchestrator(broken, { stepAttempts: 2 }).start(broken, { patient: 'p1' });
    expect(result).toMatchObject({
      outcome: 'aborted',
      failedStep: 'pacs',
      reason: 'pacs failed after 2 attempts: pacs unavailable',
    });
    expect(down.map((c) => `${c.what} ${c.step}`)).toEqual([
      'action appointments',
      'action pacs',
      'action pacs',
      'compensate pacs',
      'compensate appointments',
    ]);
  });

  it('leaves a compensation that keeps failing to recovery, which retries it until it succeeds', async () => {
    const calls: Call[] = [];
    const workflow = workflowOf(calls, (step) => (step === 'pharmacy' ? 'refuse' : 'ok'), { pacs: 4 });
    const first = orchestrator(workflow, { compensationAttempts: 2, recoveryRetryBaseMs: 500 });
    const result = await first.start(workflow, { patient: 'p1' });
    expect(result).toMatchObject({ outcome: 'aborted', failedStep: 'pharmacy', compensated: false });
    const saga = store.sagas.get(result.gtid);
    expect(saga?.record).toMatchObject({ state: 'compensating', retries: 1 });
    expect(saga?.record.steps.map((s) => s.status)).toEqual(['done', 'compensating', 'compensated']);

    // Given back with a back-off: not claimable before it.
    expect(await first.recover()).toBe(0);
    now += 501;
    expect(await first.recover()).toBe(0); // two more failed attempts, given back again
    now += 1_001;
    expect(await first.recover()).toBe(1);
    expect(store.sagas.get(result.gtid)?.record.state).toBe('aborted');
    expect(calls.filter((c) => c.what === 'compensate').map((c) => c.step)).toEqual([
      'pharmacy',
      'pacs',
      'pacs',
      'pacs',
      'pacs',
      'pacs',
      'appointments',
    ]);
  });

  it('after a crash, resumes forward from the first step not done; another replica waits for the lease', async () => {
    const calls: Call[] = [];
    const workflow = workflowOf(calls);
    const crashAt = (target: ProtocolPoint) => (point: ProtocolPoint) => {
      if (point === target) throw new Error('process killed');
    };
    const dying = orchestrator(workflow, { points: crashAt('saga.orchestrator.after-step-logged') });
    const error: unknown = await dying.start(workflow, { patient: 'p1' }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(SagaUnfinishedError);
    const { gtid } = error as SagaUnfinishedError;

    const replicas = [
      orchestrator(workflow, { name: 'care-plans-2' }),
      orchestrator(workflow, { name: 'care-plans-3' }),
    ];
    expect(await replicas[0].recover()).toBe(0); // still leased to the dead one
    now += 1_001;
    const finished = await Promise.all(replicas.map((r) => r.recover()));
    expect(finished.sort()).toEqual([0, 1]);
    expect(store.sagas.get(gtid)?.record.state).toBe('completed');
    expect(calls.map((c) => `${c.what} ${c.step}`)).toEqual([
      'action appointments',
      'action pacs',
      'action pharmacy',
    ]);
  });

  it('after a crash mid-compensation, recovery goes on compensating and never runs an action again', async () => {
    const calls: Call[] = [];
    const workflow = workflowOf(calls, (step) => (step === 'pharmacy' ? 'refuse' : 'ok'));
    const dying = orchestrator(workflow, {
      points: (point) => {
        if (point === 'saga.orchestrator.mid-compensation' && calls.at(-1)?.step === 'pacs')
          throw new Error('process killed');
      },
    });
    const error: unknown = await dying.start(workflow, { patient: 'p1' }).catch((e: unknown) => e);
    const { gtid } = error as SagaUnfinishedError;
    now += 1_001;
    expect(await orchestrator(workflow, { name: 'care-plans-2' }).recover()).toBe(1);
    expect(store.sagas.get(gtid)?.record.state).toBe('aborted');
    expect(calls.map((c) => `${c.what} ${c.step}`)).toEqual([
      'action appointments',
      'action pacs',
      'action pharmacy',
      'compensate pharmacy',
      'compensate pacs',
      'compensate pacs', // its success was not logged: called again, idempotent
      'compensate appointments',
    ]);
  });

  it('a replica that lost its lease stops at its next log write', async () => {
    const calls: Call[] = [];
    const workflow = workflowOf(calls);
    let release: () => void = () => undefined;
    const stalled = new Promise<void>((resolve) => (release = resolve));
    const slow: SagaWorkflow<Input> = defineSaga<Input>('treatment-plan', [
      {
        ...workflow.steps[0],
        action: async (input, context) => {
          await stalled;
          return workflow.steps[0].action(input, context);
        },
      },
      ...workflow.steps.slice(1),
    ]);
    const first = orchestrator(slow, { stepTimeoutMs: 10_000, leaseMs: 20_000, retryMaxMs: 2 });
    const running = first.start(slow, { patient: 'p1' }).catch((e: unknown) => e);
    await new Promise((resolve) => setImmediate(resolve));
    now += 20_001;
    const second = orchestrator(workflow, { name: 'care-plans-2' });
    expect(await second.recover()).toBe(1);
    release();
    const error = await running;
    expect(error).toBeInstanceOf(SagaUnfinishedError);
    expect((error as SagaUnfinishedError).cause).toBeInstanceOf(SagaLeaseLostError);
    // The stalled call landed late; the participant's idempotence absorbs it. Nothing else ran twice.
    expect(calls.map((c) => `${c.what} ${c.step}`)).toEqual([
      'action appointments',
      'action pacs',
      'action pharmacy',
      'action appointments',
    ]);
  });

  it('refuses workflows, options and starts it cannot keep its promises for', () => {
    expect(() => defineSaga('plan', [])).toThrow('has no steps');
    const step = { name: 'a', action: () => Promise.resolve(), compensate: () => Promise.resolve() };
    expect(() => defineSaga('plan', [step, step])).toThrow("names step 'a' twice");
    expect(() => defineSaga('bad name', [step])).toThrow('not a valid name');
    expect(() => defineSaga('plan', [{ ...step, attempts: 0 }])).toThrow('positive integer');
    const workflow = defineSaga('plan', [step]);
    expect(() => orchestrator(workflow as SagaWorkflow<Input>, { leaseMs: 100 })).toThrow('leaseMs');
    const other = defineSaga('other', [step]);
    return expect(orchestrator(workflow as SagaWorkflow<Input>).start(other, {})).rejects.toThrow(
      'not registered',
    );
  });
});
