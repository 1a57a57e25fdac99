import { TransactionRunner } from '../outbox/inbox-consumer';
import { TimerOwner } from './virtual-clock';

/** The session's transaction ended under it (the connection or the database went away). */
export class SessionEndedError extends Error {}

/** Two sessions wait for each other's row locks; like PostgreSQL, one of them is told so and rolls back. */
export class DeadlockError extends Error {}

let nextSessionId = 1;

/**
 * A local transaction of an in-memory database. Writes are staged as commit actions and applied together
 * in one step at commit; a rollback drops them. Row locks (`MemoryLocks`) are held until the session ends.
 */
export class MemorySession {
  readonly id = nextSessionId++;
  /** The session whose lock this one waits for (deadlock detection). */
  waitingFor?: MemorySession;
  readonly ended: Promise<void>;
  private state: 'open' | 'committed' | 'rolled-back' = 'open';
  private readonly commitActions: (() => void)[] = [];
  private readonly endActions: (() => void)[] = [];
  private resolveEnded!: () => void;

  constructor() {
    this.ended = new Promise((resolve) => {
      this.resolveEnded = resolve;
    });
  }

  get open(): boolean {
    return this.state === 'open';
  }

  get committed(): boolean {
    return this.state === 'committed';
  }

  assertOpen(): void {
    if (this.state !== 'open') throw new SessionEndedError(`transaction ${this.id} is no longer open`);
  }

  /** A staged write, applied at commit in the order staged. */
  onCommit(action: () => void): void {
    this.assertOpen();
    this.commitActions.push(action);
  }

  /** Runs when the session ends either way (lock release). */
  onEnd(action: () => void): void {
    this.endActions.push(action);
  }

  commit(): void {
    this.assertOpen();
    this.state = 'committed';
    for (const action of this.commitActions) action();
    this.end();
  }

  rollback(): void {
    if (this.state !== 'open') return;
    this.state = 'rolled-back';
    this.end();
  }

  private end(): void {
    this.waitingFor = undefined;
    for (const action of this.endActions) action();
    this.resolveEnded();
  }
}

/** Exclusive row locks held by sessions until they end; waiters queue in arrival order. */
export class MemoryLocks {
  private readonly holders = new Map<string, MemorySession>();

  holder(key: string): MemorySession | undefined {
    return this.holders.get(key);
  }

  async acquire(session: MemorySession, key: string): Promise<void> {
    for (;;) {
      session.assertOpen();
      const holder = this.holders.get(key);
      if (holder === session) return;
      if (holder === undefined) {
        this.holders.set(key, session);
        session.onEnd(() => {
          if (this.holders.get(key) === session) this.holders.delete(key);
        });
        return;
      }
      let hops = 0;
      for (let h: MemorySession | undefined = holder; h !== undefined && hops < 1_000; h = h.waitingFor) {
        hops += 1;
        if (h === session) throw new DeadlockError(`deadlock detected on ${key}`);
      }
      session.waitingFor = holder;
      await holder.ended;
      session.waitingFor = undefined;
    }
  }
}

const never = <T>(): Promise<T> => new Promise<T>(() => undefined);

export interface MemoryRunnerOptions {
  /** The process running the transactions: once dead, its transactions never answer. */
  owner?: TimerOwner;
  /** Awaited after the work and before the commit (a test holds a transaction open here). */
  beforeCommit?: (session: MemorySession) => Promise<void>;
}

/**
 * Runs work in a `MemorySession`: committed when the work returns, rolled back when it throws. When the
 * owner dies the open sessions roll back (`abortAll`) and the caller never hears back; when the database
 * fails (`abortAll` with the owner alive) the caller gets an error.
 */
export class MemoryTransactionRunner implements TransactionRunner<MemorySession> {
  readonly open = new Set<MemorySession>();

  constructor(private readonly options: MemoryRunnerOptions = {}) {}

  private get alive(): boolean {
    return this.options.owner?.alive ?? true;
  }

  async transaction<T>(work: (session: MemorySession) => Promise<T>): Promise<T> {
    if (!this.alive) return never();
    const session = new MemorySession();
    this.open.add(session);
    session.onEnd(() => this.open.delete(session));
    let result: T;
    try {
      result = await work(session);
      await this.options.beforeCommit?.(session);
    } catch (error) {
      session.rollback();
      if (!this.alive) return never();
      throw error;
    }
    if (!this.alive) {
      session.rollback();
      return never();
    }
    if (!session.open) throw new SessionEndedError(`transaction ${session.id} was rolled back under it`);
    session.commit();
    return result;
  }

  /** Rolls back every open transaction (the process or the database died). */
  abortAll(): void {
    for (const session of [...this.open]) session.rollback();
  }
}
