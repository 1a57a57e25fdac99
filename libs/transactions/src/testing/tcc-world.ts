import { ProtocolPoint, protocolPointsOf } from '../core/protocol-points';
import { TccBarrierViolationError, TccLease, TccLog, TccRecord } from '../ports/tcc.ports';
import { TccCoordinator, TccCoordinatorOptions } from '../tcc/coordinator';
import { defineTcc, TccBranchContext, TccResult, TccWorkflow } from '../tcc/types';
import { MemoryTransactionRunner } from './memory-session';
import { InMemoryTccBarrier, InMemoryTccLog, TccLogStore } from './tcc-memory';
import { TimerOwner, VirtualClock } from './virtual-clock';

export const TCC_BRANCHES = ['appointments', 'pacs', 'pharmacy'] as const;
export const TCC_POINTS: readonly ProtocolPoint[] = protocolPointsOf('tcc');

/** How one branch of one transaction behaves at its participant. */
export interface TccBranchPlan {
  /** `refuse`: the Try fails for a business reason (no stock); `ok`: it reserves. */
  try: 'ok' | 'refuse';
  /** Calls of Confirm and of Cancel that fail (participant unavailable) before one gets through. */
  phaseTwoFailures: number;
}

export interface TccScenario {
  processes: number;
  transactions: { branches: TccBranchPlan[] }[];
  options: Omit<TccCoordinatorOptions, 'name' | 'points'>;
  steps: TccScheduleStep[];
}

export type TccScheduleStep =
  | { t: 'start'; proc: number }
  /** Delivers the pending request `pick` (modulo their number); `lose`: its reply is lost. */
  | { t: 'deliver'; pick: number; lose: boolean }
  /** Sends a copy of pending request `pick` again (a duplicate; its reply goes nowhere). */
  | { t: 'duplicate'; pick: number }
  /** Kills a coordinator at once: its requests in flight linger and may land later. */
  | { t: 'crash'; proc: number }
  /** Kills a coordinator when it next reaches protocol point `point` (index into TCC_POINTS). */
  | { t: 'crashAt'; proc: number; point: number }
  | { t: 'restart'; proc: number }
  | { t: 'recover'; proc: number }
  | { t: 'advance'; ms: number };

type Op = 'try' | 'confirm' | 'cancel';

interface Request {
  gtid: string;
  branch: string;
  op: Op;
  index: number;
  /** Where the reply goes; undefined for a duplicate. */
  reply?: { owner: TimerOwner; resolve: () => void; reject: (error: Error) => void };
}

/** The participants' business rows, per gtid/branch: how often each operation took effect. */
export interface BranchEffects {
  reserved: number;
  applied: number;
  released: number;
}

class Process implements TimerOwner {
  alive = true;
  coordinator!: TccCoordinator;
  workflow!: TccWorkflow<{ index: number }>;
  crashAt?: ProtocolPoint;
}

const never = <T>(): Promise<T> => new Promise<T>(() => undefined);

/**
 * The TCC property spec's world: coordinator processes (each incarnation with its own `TccCoordinator`)
 * over one shared in-memory log, three participants each behind an `InMemoryTccBarrier`, and a network
 * in which every call waits until the schedule delivers it — in any order, duplicated, its reply lost,
 * after its sender died or timed out. A dead process's log writes, replies and timers never answer.
 */
export class TccWorld {
  readonly clock = new VirtualClock();
  readonly store = new TccLogStore(this.clock);
  readonly barriers = new Map<string, InMemoryTccBarrier>(
    TCC_BRANCHES.map((b) => [b, new InMemoryTccBarrier()]),
  );
  readonly effects = new Map<string, BranchEffects>();
  readonly network: Request[] = [];
  readonly problems: string[] = [];
  readonly trace: string[] = [];
  /** What each `run` answered, by transaction index. */
  readonly answers = new Map<number, TccResult>();
  readonly gtids = new Map<string, number>();
  private readonly db = new MemoryTransactionRunner();
  private readonly failuresLeft = new Map<string, number>();
  private readonly processes: Process[] = [];
  private nextStart = 0;

  constructor(readonly scenario: TccScenario) {
    for (let p = 0; p < scenario.processes; p += 1) this.processes.push(this.incarnation(p));
  }

  effectsOf(gtid: string, branch: string): BranchEffects {
    const key = `${gtid}/${branch}`;
    let e = this.effects.get(key);
    if (!e) {
      e = { reserved: 0, applied: 0, released: 0 };
      this.effects.set(key, e);
    }
    return e;
  }

  private incarnation(p: number): Process {
    const proc = new Process();
    const log = this.logFor(proc);
    const send =
      (op: Op) =>
      (input: { index: number }, { gtid, branch }: TccBranchContext): Promise<void> => {
        if (!proc.alive) return never();
        this.gtids.set(gtid, input.index);
        return new Promise<void>((resolve, reject) => {
          this.network.push({
            gtid,
            branch,
            op,
            index: input.index,
            reply: { owner: proc, resolve, reject },
          });
        });
      };
    proc.workflow = defineTcc<{ index: number }>(
      'treatment-plan',
      TCC_BRANCHES.map((name) => ({
        name,
        try: send('try'),
        confirm: send('confirm'),
        cancel: send('cancel'),
      })),
    );
    proc.coordinator = new TccCoordinator(
      log,
      [proc.workflow],
      {
        ...this.scenario.options,
        name: `care-plans-${p}`,
        points: (point, gtid) => {
          if (proc.alive && proc.crashAt === point) {
            this.trace.push(`proc ${p} killed at ${point} (${gtid})`);
            proc.alive = false;
          }
        },
      },
      undefined,
      undefined,
      this.clock.forOwner(proc),
    );
    return proc;
  }

  /** The shared log as one process sees it: once the process is dead, nothing answers it. */
  private logFor(proc: Process): TccLog {
    const inner = new InMemoryTccLog(this.store);
    const gate =
      <A extends unknown[], R>(f: (...args: A) => Promise<R>) =>
      async (...args: A): Promise<R> => {
        if (!proc.alive) return never();
        const result = await f(...args);
        if (!proc.alive) return never();
        return result;
      };
    return {
      begin: gate((t, o, l) => inner.begin(t, o, l)),
      renew: gate((l: TccLease) => inner.renew(l)),
      decide: gate((l, d, r) => inner.decide(l, d, r)),
      finish: gate((l) => inner.finish(l)),
      release: gate((l, e, r) => inner.release(l, e, r)),
      claimUnfinished: gate((o, n, l) => inner.claimUnfinished(o, n, l)),
      get: (g) => inner.get(g),
    };
  }

  /** The participant's handler: a local transaction with the barrier and the business row. */
  private async handle(request: Request): Promise<void> {
    const { gtid, branch, op, index } = request;
    const plan = this.scenario.transactions[index].branches[TCC_BRANCHES.indexOf(branch as never)];
    if (op !== 'try') {
      const k = `${gtid}/${branch}/${op}`;
      const left = this.failuresLeft.get(k) ?? plan.phaseTwoFailures;
      if (left > 0) {
        this.failuresLeft.set(k, left - 1);
        throw new Error(`${branch} unavailable`);
      }
    }
    const barrier = this.barriers.get(branch)!;
    const key = { gtid, branch };
    const effects = this.effectsOf(gtid, branch);
    try {
      await this.db.transaction(async (tx) => {
        if (op === 'try')
          return barrier.try(tx, key, () => {
            if (plan.try === 'refuse') return Promise.reject(new Error('out of stock'));
            tx.onCommit(() => (effects.reserved += 1));
            return Promise.resolve();
          });
        if (op === 'confirm')
          return barrier.confirm(tx, key, () => Promise.resolve(tx.onCommit(() => (effects.applied += 1))));
        return barrier.cancel(tx, key, () => Promise.resolve(tx.onCommit(() => (effects.released += 1))));
      });
    } catch (error) {
      if (error instanceof TccBarrierViolationError) this.problems.push(error.message);
      throw error;
    }
  }

  private async deliver(request: Request, lose: boolean): Promise<void> {
    let failure: Error | undefined;
    await this.handle(request).catch((error: Error) => {
      failure = error;
    });
    const reply = request.reply;
    if (!reply || lose || !reply.owner.alive) return;
    if (failure) reply.reject(failure);
    else reply.resolve();
  }

  async apply(step: TccScheduleStep): Promise<void> {
    this.trace.push(JSON.stringify(step));
    const proc = 'proc' in step ? this.processes[step.proc % this.processes.length] : undefined;
    switch (step.t) {
      case 'start': {
        if (!proc?.alive || this.nextStart >= this.scenario.transactions.length) break;
        const index = this.nextStart++;
        proc.coordinator.run(proc.workflow, { index }).then(
          (result) => this.answers.set(index, result),
          () => undefined,
        );
        break;
      }
      case 'deliver':
      case 'duplicate': {
        if (this.network.length === 0) break;
        const at = step.pick % this.network.length;
        const request = this.network[at];
        if (step.t === 'duplicate') {
          this.network.push({ ...request, reply: undefined });
          break;
        }
        this.network.splice(at, 1);
        await this.deliver(request, step.lose);
        break;
      }
      case 'crash':
        if (proc) proc.alive = false;
        break;
      case 'crashAt':
        if (proc) proc.crashAt = TCC_POINTS[step.point % TCC_POINTS.length];
        break;
      case 'restart':
        if (proc && !proc.alive)
          this.processes[step.proc % this.processes.length] = this.incarnation(step.proc);
        break;
      case 'recover':
        if (proc?.alive) proc.coordinator.recover().catch(() => undefined);
        break;
      case 'advance':
        this.clock.advance(step.ms);
        break;
    }
    await settle();
  }

  /**
   * Heals the world and lets it finish: every dead process restarted, every request in flight delivered
   * (late), time advanced past leases and back-offs, recovery swept, until nothing is unfinished.
   */
  async drain(): Promise<boolean> {
    for (let p = 0; p < this.processes.length; p += 1) {
      this.processes[p].crashAt = undefined;
      if (!this.processes[p].alive) this.processes[p] = this.incarnation(p);
    }
    for (let round = 0; round < 400; round += 1) {
      while (this.network.length > 0) {
        await this.deliver(this.network.shift()!, false);
        await settle();
      }
      if (this.unfinished().length === 0 && this.network.length === 0) return true;
      this.clock.advance(this.scenario.options.leaseMs + this.scenario.options.recoveryRetryMaxMs);
      await settle();
      for (const proc of this.processes) proc.coordinator.recover().catch(() => undefined);
      await settle();
    }
    return false;
  }

  unfinished(): TccRecord[] {
    return [...this.store.transactions.values()]
      .map((t) => t.record)
      .filter((r) => r.state !== 'confirmed' && r.state !== 'cancelled');
  }

  /** A Try of every branch sent once more after everything settled: the barrier must refuse it. */
  async lateTries(): Promise<void> {
    for (const [gtid, index] of this.gtids)
      for (const branch of TCC_BRANCHES) await this.deliver({ gtid, branch, op: 'try', index }, false);
  }
}

/** Lets every pending promise chain run (the simulated world's work is all microtasks). */
async function settle(): Promise<void> {
  for (let i = 0; i < 3; i += 1) await new Promise<void>((resolve) => setImmediate(resolve));
}

/**
 * The invariants once the world drained: every transaction confirmed in all branches or cancelled in
 * all; each effect at most once; a confirmed one reserved and applied exactly once per branch and never
 * released; a cancelled one never applied, and every reservation released (nothing left reserved); the
 * log's moves legal; and what `run` answered agreeing with the log.
 */
export function checkTccOutcomes(world: TccWorld): string[] {
  const problems = [...world.problems, ...world.store.violations];
  for (const [gtid, stored] of world.store.transactions) {
    const { state } = stored.record;
    const index = world.gtids.get(gtid);
    for (const branch of TCC_BRANCHES) {
      const e = world.effectsOf(gtid, branch);
      const where = `${gtid}/${branch} (${state}): reserved ${e.reserved}, applied ${e.applied}, released ${e.released}`;
      if (e.reserved > 1 || e.applied > 1 || e.released > 1) problems.push(`${where}: an effect twice`);
      if (state === 'confirmed' && (e.reserved !== 1 || e.applied !== 1 || e.released !== 0))
        problems.push(`${where}: confirmed but not applied exactly once`);
      if (state === 'cancelled' && (e.applied !== 0 || e.released !== e.reserved))
        problems.push(`${where}: cancelled but applied or left reserved`);
    }
    if (index === undefined) continue;
    const answer = world.answers.get(index);
    if (answer && answer.outcome !== (state === 'confirmed' ? 'confirmed' : 'cancelled'))
      problems.push(`${gtid}: run answered ${answer.outcome}, the log says ${state}`);
    const plan = world.scenario.transactions[index];
    if (state === 'confirmed' && plan.branches.some((b) => b.try === 'refuse'))
      problems.push(`${gtid}: confirmed although a branch refused its try`);
    if (stored.lease && stored.lease.token !== '' && (state === 'confirmed' || state === 'cancelled'))
      problems.push(`${gtid}: finished but still leased`);
  }
  return problems;
}
