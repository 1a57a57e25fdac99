// The world of the saga property spec (saga/saga.property.spec.ts): the real `SagaOrchestrator` in one or
// two processes (replicas) over one in-memory saga log, with participants whose calls, like the log's
// writes, wait until the schedule delivers them. A process can be killed at any moment (its requests in
// flight vanish, or the one it is waiting for takes effect without an answer) or at a protocol point,
// restarted and made to run recovery sweeps, possibly both at once; time advances to fire back-offs,
// step time-outs and lease expiries (a timed-out call may still arrive late).
import { silentLogger } from '../core/observer';
import { protocolPointsOf, ProtocolPoint } from '../core/protocol-points';
import { SagaLease, SagaLog, SagaRecord } from '../ports/saga.ports';
import { SagaOrchestrator, SagaOrchestratorOptions } from '../saga/orchestrator';
import {
  defineSaga,
  SagaCompensationContext,
  SagaResult,
  SagaStepContext,
  SagaUnfinishedError,
  SagaWorkflow,
  StepRefusedError,
} from '../saga/types';
import { InMemorySagaLog, SagaLogStore } from './saga-memory';
import { VirtualClock } from './virtual-clock';

/** How a step's participant answers its action calls, by count of calls for one saga. */
export type ActionPlan =
  | { kind: 'ok' }
  /** Every call is refused for a business reason. */
  | { kind: 'refuse' }
  /** The first `failures` calls fail transiently; with `lostReply` each of them took effect first. */
  | { kind: 'transient'; failures: number; lostReply: boolean };

export interface StepPlan {
  action: ActionPlan;
  /** The first `compensationFailures` compensation calls fail transiently (without effect). */
  compensationFailures: number;
}

export interface SagaInput {
  plan: StepPlan[];
}

export const SAGA_POINTS: readonly ProtocolPoint[] = protocolPointsOf('saga');

export type SagaScheduleStep =
  /** The process starts the next saga of the scenario. */
  | { t: 'start'; proc: number }
  /** One request in flight (a log write or a participant call) takes effect and is answered. */
  | { t: 'deliver'; pick: number }
  /**
   * Kills the process. Its requests in flight vanish; or (`effect`) the first takes effect at once,
   * unanswered, and the rest vanish; or (`linger`) they all stay in flight and may still take effect later.
   */
  | { t: 'crash'; proc: number; requests: 'vanish' | 'effect' | 'linger' }
  /** Kills the process when it next announces `SAGA_POINTS[point]`. */
  | { t: 'crashAt'; proc: number; point: number }
  | { t: 'restart'; proc: number }
  /** The process runs a recovery sweep (unless one of its sweeps is running). */
  | { t: 'recover'; proc: number }
  | { t: 'advance'; ms: number };

export interface SagaScenario {
  processes: number;
  sagas: SagaInput[];
  options: Omit<SagaOrchestratorOptions, 'name' | 'points'>;
  steps: SagaScheduleStep[];
}

/** One saga+step's effect at its participant. `voided`: compensated before any action took effect. */
export interface LedgerEntry {
  state: 'none' | 'applied' | 'compensated' | 'voided';
  actionCalls: number;
  compensationCalls: number;
  /** Actions refused because the compensation came first (the barrier). */
  lateActions: number;
}

/**
 * The participants: one ledger keyed by gtid + step index, idempotent per key, refusing an action that
 * arrives after its compensation. Effects are recorded in order, to check the saga's ordering promises.
 */
export class SagaLedger {
  readonly entries = new Map<string, LedgerEntry>();
  /** Per saga: the steps whose action took effect, in order. */
  readonly applied = new Map<string, number[]>();
  /** Per saga: the steps whose compensation first took effect (undone or voided), in order. */
  readonly compensated = new Map<string, number[]>();
  readonly violations: string[] = [];

  entry(gtid: string, index: number): LedgerEntry {
    const key = `${gtid}/${index}`;
    let entry = this.entries.get(key);
    if (!entry) {
      entry = { state: 'none', actionCalls: 0, compensationCalls: 0, lateActions: 0 };
      this.entries.set(key, entry);
    }
    return entry;
  }

  action(gtid: string, index: number, plan: StepPlan): unknown {
    const entry = this.entry(gtid, index);
    entry.actionCalls += 1;
    if (entry.state === 'compensated' || entry.state === 'voided') {
      entry.lateActions += 1;
      throw new StepRefusedError('already compensated');
    }
    const { action } = plan;
    if (action.kind === 'refuse') throw new StepRefusedError('refused by the participant');
    if (action.kind === 'transient' && entry.actionCalls <= action.failures) {
      if (action.lostReply) this.apply(gtid, index, entry);
      throw new Error('participant unavailable');
    }
    this.apply(gtid, index, entry);
    return { reference: `${gtid}/${index}` };
  }

  compensation(gtid: string, index: number, plan: StepPlan): void {
    const entry = this.entry(gtid, index);
    entry.compensationCalls += 1;
    if (entry.compensationCalls <= plan.compensationFailures) throw new Error('participant unavailable');
    if (entry.state === 'compensated' || entry.state === 'voided') return;
    entry.state = entry.state === 'applied' ? 'compensated' : 'voided';
    const order = this.compensated.get(gtid) ?? [];
    const last = order[order.length - 1];
    if (last !== undefined && last <= index)
      this.violations.push(`${gtid}: step ${index} compensated after step ${last} (not in reverse order)`);
    order.push(index);
    this.compensated.set(gtid, order);
  }

  private apply(gtid: string, index: number, entry: LedgerEntry): void {
    if (entry.state !== 'none') return;
    entry.state = 'applied';
    const order = this.applied.get(gtid) ?? [];
    const last = order[order.length - 1];
    if (last !== undefined && last >= index)
      this.violations.push(`${gtid}: step ${index} applied after step ${last} (not in order)`);
    if (this.compensated.has(gtid))
      this.violations.push(`${gtid}: step ${index} applied during compensation`);
    order.push(index);
    this.applied.set(gtid, order);
  }
}

export interface Process {
  slot: number;
  name: string;
  owner: { alive: boolean };
  orchestrator: SagaOrchestrator;
  workflows: Map<number, SagaWorkflow<SagaInput>>;
  killAt?: ProtocolPoint;
  recovering: boolean;
}

interface Request {
  id: number;
  process: Process;
  label: string;
  effect: () => unknown;
  /** Sent by a process that died since: it may still take effect, and nobody hears the answer. */
  lingering?: boolean;
  /** An action or compensation (else a log request). */
  participant: boolean;
  reply: (outcome: { value: unknown } | { error: unknown }) => void;
}

const never = <T>(): Promise<T> => new Promise<T>(() => undefined);

const flush = async (): Promise<void> => {
  for (let i = 0; i < 6; i += 1) await new Promise((resolve) => setImmediate(resolve));
};

export class SagaWorld {
  readonly clock = new VirtualClock();
  readonly store = new SagaLogStore(this.clock);
  readonly ledger = new SagaLedger();
  readonly slots: Process[] = [];
  readonly requests: Request[] = [];
  /** What `start` answered, by gtid; `unfinished` for a SagaUnfinishedError. */
  readonly outcomes = new Map<string, SagaResult | 'unfinished'>();
  /** The plan of each saga begun, by gtid. */
  readonly plans = new Map<string, SagaInput>();
  readonly violations: string[] = [];
  readonly trace: string[] = [];
  /** Draining: every request takes effect at once. */
  healthy = false;
  private nextSaga = 0;
  private nextRequest = 0;
  private incarnations = 0;

  constructor(readonly scenario: SagaScenario) {
    for (let slot = 0; slot < scenario.processes; slot += 1) this.slots.push(this.incarnate(slot));
  }

  log(line: string): void {
    this.trace.push(`${this.clock.now() - Date.UTC(2026, 0, 1)}ms ${line}`);
  }

  async apply(step: SagaScheduleStep): Promise<void> {
    this.log(JSON.stringify(step));
    const proc = 'proc' in step ? this.slots[step.proc % this.slots.length] : undefined;
    switch (step.t) {
      case 'start':
        if (proc) this.start(proc);
        break;
      case 'deliver': {
        const request = this.requests[step.pick % Math.max(1, this.requests.length)];
        if (request) await this.deliver(request);
        break;
      }
      case 'crash':
        if (proc?.owner.alive) {
          const waiting = this.requests.find((r) => r.process === proc);
          if (step.requests === 'effect' && waiting) {
            this.requests.splice(this.requests.indexOf(waiting), 1);
            this.log(`${waiting.label} takes effect; ${proc.name} dies before the answer`);
            await Promise.resolve()
              .then(() => waiting.effect())
              .catch(() => undefined);
          }
          this.kill(proc, step.requests === 'linger');
        }
        break;
      case 'crashAt':
        if (proc?.owner.alive) proc.killAt = SAGA_POINTS[step.point % SAGA_POINTS.length];
        break;
      case 'restart':
        if (proc && !proc.owner.alive) this.slots[proc.slot] = this.incarnate(proc.slot);
        break;
      case 'recover':
        if (proc) this.recover(proc);
        break;
      case 'advance':
        this.clock.advance(step.ms);
        break;
    }
    await flush();
  }

  /**
   * Heals everything and drives every saga to its end; false if some saga is still unfinished. The
   * participant calls the schedule left in flight (timed-out or awaited calls) and a dead process's
   * lingering requests are held back until then, and only then arrive: as late as a request can.
   */
  async drain(rounds = 60): Promise<boolean> {
    this.healthy = true;
    this.log('--- healing: every process restarted, requests answered at once');
    const late = this.requests.filter((r) => r.participant || r.lingering);
    for (const request of late) this.requests.splice(this.requests.indexOf(request), 1);
    for (const proc of [...this.slots]) {
      proc.killAt = undefined;
      if (!proc.owner.alive) this.slots[proc.slot] = this.incarnate(proc.slot);
    }
    // The log answers what the live processes asked it; their participant calls answer late (time-outs).
    while (this.requests.length > 0) await this.deliver(this.requests[0]);
    if (!(await this.settle(rounds))) return false;
    if (late.length === 0) return true;
    this.log(`--- ${late.length} requests left in flight arrive late`);
    for (const request of late.reverse()) await this.deliver(request);
    await flush();
    return this.settle(rounds);
  }

  private async settle(rounds: number): Promise<boolean> {
    const { leaseMs, recoveryRetryMaxMs } = this.scenario.options;
    for (let round = 0; round < rounds; round += 1) {
      for (const proc of this.slots) this.recover(proc);
      await flush();
      if (this.unfinished().length === 0 && this.slots.every((p) => !p.recovering)) return true;
      this.clock.advance(Math.max(leaseMs, recoveryRetryMaxMs) + 1);
      await flush();
    }
    return false;
  }

  unfinished(): SagaRecord[] {
    return [...this.store.sagas.values()]
      .map((s) => s.record)
      .filter((r) => r.state === 'running' || r.state === 'compensating');
  }

  private start(proc: Process): void {
    if (!proc.owner.alive || this.nextSaga >= this.scenario.sagas.length) return;
    const input = this.scenario.sagas[this.nextSaga++];
    const workflow = proc.workflows.get(input.plan.length);
    if (!workflow) throw new Error(`no workflow of ${input.plan.length} steps`);
    proc.orchestrator.start(workflow, input).then(
      (result) => {
        this.log(`${proc.name} start → ${result.gtid} ${result.outcome}`);
        this.outcomes.set(result.gtid, result);
      },
      (error: unknown) => {
        if (error instanceof SagaUnfinishedError) {
          this.log(`${proc.name} start → ${error.gtid} unfinished`);
          this.outcomes.set(error.gtid, 'unfinished');
        } else this.violations.push(`start threw ${String(error)}`);
      },
    );
  }

  private recover(proc: Process): void {
    if (!proc.owner.alive || proc.recovering) return;
    proc.recovering = true;
    proc.orchestrator.recover().then(
      (count) => {
        proc.recovering = false;
        if (count > 0) this.log(`${proc.name} recovered ${count}`);
      },
      (error: unknown) => {
        proc.recovering = false;
        this.violations.push(`recovery threw ${String(error)}`);
      },
    );
  }

  /** Kills a process; its requests in flight vanish, unless they `linger` (sent, not yet arrived). */
  private kill(proc: Process, linger = false): void {
    proc.owner.alive = false;
    proc.recovering = false;
    for (let i = this.requests.length - 1; i >= 0; i -= 1)
      if (this.requests[i].process === proc) {
        if (linger) this.requests[i].lingering = true;
        else this.requests.splice(i, 1);
      }
    this.log(`${proc.name} killed${linger ? ', its requests still in flight' : ''}`);
  }

  private async deliver(request: Request): Promise<void> {
    const at = this.requests.indexOf(request);
    if (at >= 0) this.requests.splice(at, 1);
    if (!request.process.owner.alive && !request.lingering) return;
    let outcome: { value: unknown } | { error: unknown };
    try {
      outcome = { value: await request.effect() };
    } catch (error) {
      outcome = { error };
    }
    this.log(`${request.label}${'error' in outcome ? ` → ${String(outcome.error)}` : ''}`);
    if (request.process.owner.alive) request.reply(outcome);
  }

  /** A request of `proc`: waits for the schedule (or runs at once when healthy); a dead process never hears. */
  gate<T>(proc: Process, label: string, effect: () => T | Promise<T>, participant = false): Promise<T> {
    if (!proc.owner.alive) return never();
    return new Promise<T>((resolve, reject) => {
      const request: Request = {
        id: this.nextRequest++,
        process: proc,
        participant,
        label: `${proc.name}: ${label}`,
        effect,
        reply: (outcome) =>
          'error' in outcome
            ? reject(outcome.error instanceof Error ? outcome.error : new Error(String(outcome.error)))
            : resolve(outcome.value as T),
      };
      this.requests.push(request);
      if (this.healthy) void this.deliver(request);
    });
  }

  /** A participant call must come from the orchestrator holding the saga's lease at the time it is made. */
  private checkHolder(proc: Process, gtid: string, what: string): void {
    const lease = this.store.leaseOf(gtid);
    if (!lease || lease.owner !== proc.name || lease.until < this.clock.now())
      this.violations.push(`${proc.name} called ${what} of ${gtid} without holding its lease`);
  }

  private incarnate(slot: number): Process {
    const name = `orchestrator-${slot}.${++this.incarnations}`;
    const owner = { alive: true };
    const workflows = new Map<number, SagaWorkflow<SagaInput>>();
    const proc: Process = {
      slot,
      name,
      owner,
      workflows,
      recovering: false,
      orchestrator: undefined as unknown as SagaOrchestrator,
    };
    for (let length = 1; length <= 4; length += 1) {
      workflows.set(
        length,
        defineSaga<SagaInput>(
          `plan-${length}`,
          Array.from({ length }, (_, index) => ({
            name: `s${index}`,
            action: (input: SagaInput, context: SagaStepContext) => {
              this.checkHolder(proc, context.gtid, `action ${index}`);
              return this.gate(
                proc,
                `action ${context.gtid}/${index} #${context.attempt}`,
                () => this.ledger.action(context.gtid, index, input.plan[index]),
                true,
              );
            },
            compensate: (input: SagaInput, context: SagaCompensationContext) => {
              this.checkHolder(proc, context.gtid, `compensation ${index}`);
              return this.gate(
                proc,
                `compensate ${context.gtid}/${index} #${context.attempt}`,
                () => this.ledger.compensation(context.gtid, index, input.plan[index]),
                true,
              );
            },
          })),
        ),
      );
    }
    const log = new InMemorySagaLog(this.store);
    const gated: SagaLog = {
      begin: (saga, who, leaseMs) =>
        this.gate(proc, `begin ${saga.gtid}`, async () => {
          const lease = await log.begin(saga, who, leaseMs);
          this.plans.set(saga.gtid, saga.input as SagaInput);
          return lease;
        }),
      stepStarted: (lease: SagaLease, index, attempt) =>
        this.gate(proc, `log ${lease.gtid} step ${index} started`, () =>
          log.stepStarted(lease, index, attempt),
        ),
      stepDone: (lease, index, result) =>
        this.gate(proc, `log ${lease.gtid} step ${index} done`, () => log.stepDone(lease, index, result)),
      stepFailed: (lease, index, reason) =>
        this.gate(proc, `log ${lease.gtid} step ${index} failed`, () => log.stepFailed(lease, index, reason)),
      compensationStarted: (lease, index, attempt) =>
        this.gate(proc, `log ${lease.gtid} step ${index} compensating`, () =>
          log.compensationStarted(lease, index, attempt),
        ),
      stepCompensated: (lease, index) =>
        this.gate(proc, `log ${lease.gtid} step ${index} compensated`, () =>
          log.stepCompensated(lease, index),
        ),
      finish: (lease, outcome) =>
        this.gate(proc, `log ${lease.gtid} ${outcome}`, () => log.finish(lease, outcome)),
      release: (lease, error, retryAfterMs) =>
        this.gate(proc, `log ${lease.gtid} released`, () => log.release(lease, error, retryAfterMs)),
      claimUnfinished: (who, limit, leaseMs) =>
        this.gate(proc, 'claim unfinished', async () => {
          const claimed = await log.claimUnfinished(who, limit, leaseMs);
          this.log(`${who} claims ${claimed.map((c) => c.saga.gtid).join(', ') || 'nothing'}`);
          return claimed;
        }),
      get: (gtid) => this.gate(proc, `get ${gtid}`, () => log.get(gtid)),
    };
    proc.orchestrator = new SagaOrchestrator(
      gated,
      [...workflows.values()] as SagaWorkflow<unknown>[],
      {
        ...this.scenario.options,
        name,
        points: (point) => {
          if (proc.killAt === point && owner.alive) {
            this.log(`${name} dies at ${point}`);
            this.kill(proc);
          }
        },
      },
      undefined,
      silentLogger,
      this.clock.forOwner(owner),
    );
    this.log(`${name} up`);
    return proc;
  }
}

/** What must hold after every step. */
export function checkSagaSafety(world: SagaWorld): string[] {
  return [...world.store.violations, ...world.ledger.violations, ...world.violations];
}

/** What must hold once every saga ended: each completed or aborted, with the effects that says. */
export function checkSagaOutcomes(world: SagaWorld): string[] {
  const problems: string[] = [];
  for (const { record, lease } of world.store.sagas.values()) {
    const { gtid, state } = record;
    const plan = world.plans.get(gtid)?.plan ?? [];
    const entries = plan.map((_, index) => world.ledger.entry(gtid, index));
    if (state !== 'completed' && state !== 'aborted') {
      problems.push(`${gtid} left ${state}`);
      continue;
    }
    if (lease && lease.token !== '') problems.push(`${gtid} ${state} but still leased`);
    const answered = world.outcomes.get(gtid);
    if (answered !== undefined && answered !== 'unfinished') {
      const said = answered.outcome;
      if (said !== state) problems.push(`${gtid}: start answered ${said}, the log says ${state}`);
    }
    if (state === 'completed') {
      if (plan.some((s) => s.action.kind === 'refuse')) problems.push(`${gtid} completed past a refusal`);
      entries.forEach((e, i) => {
        if (e.state !== 'applied') problems.push(`${gtid} completed but step ${i} is ${e.state}`);
        if (e.compensationCalls > 0) problems.push(`${gtid} completed but step ${i} was compensated`);
      });
    } else {
      entries.forEach((e, i) => {
        if (e.state === 'applied') problems.push(`${gtid} aborted but step ${i} is still applied`);
        // Every step whose action was called (its start logged first) is compensated, even with nothing to undo.
        else if (e.actionCalls > 0 && e.state === 'none')
          problems.push(`${gtid} aborted but step ${i}, called, was never compensated`);
      });
      const failed = record.steps.findIndex((s) => s.name === record.failedStep);
      if (failed === -1) problems.push(`${gtid} aborted without a failed step`);
      entries.forEach((e, i) => {
        if (i > failed && e.actionCalls > 0)
          problems.push(`${gtid}: step ${i} ran after step ${failed} failed`);
      });
    }
  }
  return problems;
}
