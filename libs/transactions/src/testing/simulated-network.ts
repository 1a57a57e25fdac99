import { Clock, TimeoutError } from '../core/clock';
import { errorMessage } from '../core/observer';

/** One life of a node, from (re)start to crash. Whatever it started dies with it. */
export interface Incarnation {
  readonly node: string;
  readonly epoch: number;
  alive: boolean;
}

export type CallOutcome = { ok: true; value: unknown } | { ok: false; error: Error };

/** A call on its way to a node. */
export interface RequestEvent {
  kind: 'request';
  id: number;
  callId: number;
  from: Incarnation;
  to: string;
  label: string;
}

/** An answer on its way back to the incarnation that called. */
export interface ReplyEvent {
  kind: 'reply';
  id: number;
  callId: number;
  from: string;
  to: Incarnation;
  label: string;
  outcome: CallOutcome;
}

/** A durable write a node has issued and its storage has not yet performed. */
export interface StorageEvent {
  kind: 'storage';
  id: number;
  owner: Incarnation;
  label: string;
}

export type PendingEvent = RequestEvent | ReplyEvent | StorageEvent;

/** Answers which incarnation of a node is up (undefined while it is down). */
export type NodeDirectory = (node: string) => Incarnation | undefined;

interface Call {
  from: Incarnation;
  invoke: () => Promise<unknown>;
  settled: boolean;
  resolve: (value: unknown) => void;
  reject: (error: Error) => void;
}

/** A transient storage error injected by a test (connection lost, serialization failure…). */
export class StorageFailure extends Error {
  constructor(
    readonly operation: string,
    /** True when the write took effect although the caller got this error. */
    readonly applied: boolean,
  ) {
    super(`storage error during ${operation}${applied ? ' (after it took effect)' : ''}`);
  }
}

/** A promise that never settles: what a crashed node's pending operations turn into. */
export function never<T>(): Promise<T> {
  return new Promise<T>(() => undefined);
}

/**
 * The simulated network and storage scheduler: every request, reply and durable write waits in one pool
 * until the test delivers it, in any order. Messages can be lost (dropped, or sent to / from an isolated
 * node), duplicated and reordered; a request to a node that is down is answered with a refused
 * connection; replies to a dead incarnation vanish. Nothing happens unless the test says so, which keeps a
 * run a pure function of its schedule.
 */
export class SimulatedNetwork {
  private readonly events: PendingEvent[] = [];
  private readonly calls = new Map<number, Call>();
  private readonly storageOps = new Map<number, { run: (fail?: 'before' | 'after') => void }>();
  private readonly isolated = new Set<string>();
  private nextId = 1;
  private nextCallId = 1;

  constructor(
    private readonly directory: NodeDirectory,
    private readonly trace: (line: string) => void = () => undefined,
  ) {}

  pending(): readonly PendingEvent[] {
    return this.events;
  }

  /** Requests and replies only (what the network can lose or duplicate). */
  messages(): (RequestEvent | ReplyEvent)[] {
    return this.events.filter((e): e is RequestEvent | ReplyEvent => e.kind !== 'storage');
  }

  /**
   * Sends a call from `from` to node `to`; `invoke` runs on whatever incarnation of `to` is up when the
   * request arrives. Rejects with a TimeoutError after `timeout.ms` if given (an HTTP client's time-out).
   */
  call<T>(
    from: Incarnation,
    to: string,
    label: string,
    invoke: () => Promise<T>,
    timeout?: { ms: number; clock: Clock },
  ): Promise<T> {
    if (!from.alive) return never();
    const callId = this.nextCallId++;
    const result = new Promise<T>((resolve, reject) => {
      this.calls.set(callId, {
        from,
        invoke,
        settled: false,
        resolve: (value) => resolve(value as T),
        reject,
      });
    });
    this.push({ kind: 'request', id: this.nextId++, callId, from, to, label });
    if (timeout) {
      void timeout.clock.sleep(timeout.ms).then(() => {
        this.settle(callId, { ok: false, error: new TimeoutError(`${label} to ${to}`, timeout.ms) });
      });
    }
    return result;
  }

  /** Queues a durable write of `owner`; it runs when delivered, and never if `owner` crashed first. */
  storage<T>(owner: Incarnation, label: string, operation: () => T): Promise<T> {
    if (!owner.alive) return never();
    return new Promise<T>((resolve, reject) => {
      const id = this.nextId++;
      this.storageOps.set(id, {
        run: (fail) => {
          if (fail === 'before') {
            reject(new StorageFailure(label, false));
            return;
          }
          try {
            const result = operation();
            if (fail === 'after') reject(new StorageFailure(label, true));
            else resolve(result);
          } catch (error) {
            reject(error instanceof Error ? error : new Error(String(error)));
          }
        },
      });
      this.push({ kind: 'storage', id, owner, label });
    });
  }

  /**
   * Performs a queued write with a storage error: 'before' fails it without effect (the database refused
   * or the connection broke before it), 'after' applies it and still reports the error (the connection
   * broke before the acknowledgement: the caller cannot tell whether it happened).
   */
  failStorage(id: number, when: 'before' | 'after'): void {
    const event = this.events.find((e) => e.id === id);
    if (event?.kind !== 'storage') return;
    this.take(id);
    const op = this.storageOps.get(id);
    this.storageOps.delete(id);
    if (op && event.owner.alive) {
      this.trace(
        `storage  ${event.label} FAILS ${when === 'before' ? 'without effect' : 'after taking effect'}`,
      );
      op.run(when);
    }
  }

  /** Performs the event: runs a storage write, hands a request to its node or a reply to its caller. */
  deliver(id: number): void {
    const event = this.take(id);
    if (!event) return;
    switch (event.kind) {
      case 'storage': {
        const op = this.storageOps.get(event.id);
        this.storageOps.delete(event.id);
        if (op && event.owner.alive) {
          this.trace(`storage  ${event.label}`);
          op.run();
        }
        return;
      }
      case 'request':
        this.deliverRequest(event);
        return;
      case 'reply':
        this.deliverReply(event);
        return;
    }
  }

  /** Loses a request or reply. */
  drop(id: number): void {
    const event = this.events.find((e) => e.id === id);
    if (!event || event.kind === 'storage') return;
    this.take(id);
    this.trace(`lose     ${describeEvent(event)}`);
  }

  /** Puts a second copy of a request or reply on the wire. */
  duplicate(id: number): void {
    const event = this.events.find((e) => e.id === id);
    if (!event || event.kind === 'storage') return;
    const copy = { ...event, id: this.nextId++ };
    this.events.push(copy);
    this.trace(`dup      ${describeEvent(event)}`);
  }

  /** Cuts a node off: every message to or from it is lost until `rejoin`. */
  isolate(node: string): void {
    this.isolated.add(node);
  }

  rejoin(node: string): void {
    this.isolated.delete(node);
  }

  rejoinAll(): void {
    this.isolated.clear();
  }

  isIsolated(node: string): boolean {
    return this.isolated.has(node);
  }

  /** A node crashed: its queued writes never happen and replies addressed to it vanish. */
  forget(incarnation: Incarnation): void {
    for (let i = this.events.length - 1; i >= 0; i -= 1) {
      const event = this.events[i];
      if (
        (event.kind === 'storage' && event.owner === incarnation) ||
        (event.kind === 'reply' && event.to === incarnation)
      ) {
        this.events.splice(i, 1);
        if (event.kind === 'storage') this.storageOps.delete(event.id);
      }
    }
  }

  private deliverRequest(event: RequestEvent): void {
    if (this.isolated.has(event.to) || this.isolated.has(event.from.node)) {
      this.trace(`lost     ${describeEvent(event)} (isolated)`);
      return;
    }
    const call = this.calls.get(event.callId);
    if (!call) return;
    const target = this.directory(event.to);
    if (!target) {
      this.trace(`refused  ${describeEvent(event)} (${event.to} is down)`);
      this.reply(event, { ok: false, error: new Error(`connection to ${event.to} refused`) });
      return;
    }
    this.trace(`deliver  ${describeEvent(event)}`);
    let handled: Promise<unknown>;
    try {
      handled = call.invoke();
    } catch (error) {
      handled = Promise.reject(error instanceof Error ? error : new Error(String(error)));
    }
    handled.then(
      (value) => {
        if (target.alive) this.reply(event, { ok: true, value });
      },
      (error: unknown) => {
        if (target.alive) this.reply(event, { ok: false, error: new Error(errorMessage(error)) });
      },
    );
  }

  private deliverReply(event: ReplyEvent): void {
    if (!event.to.alive || this.isolated.has(event.to.node) || this.isolated.has(event.from)) {
      this.trace(`lost     ${describeEvent(event)}`);
      return;
    }
    this.trace(`deliver  ${describeEvent(event)}`);
    this.settle(event.callId, event.outcome);
  }

  private reply(request: RequestEvent, outcome: CallOutcome): void {
    this.push({
      kind: 'reply',
      id: this.nextId++,
      callId: request.callId,
      from: request.to,
      to: request.from,
      label: request.label,
      outcome,
    });
  }

  private settle(callId: number, outcome: CallOutcome): void {
    const call = this.calls.get(callId);
    if (!call || call.settled || !call.from.alive) return;
    call.settled = true;
    if (outcome.ok) call.resolve(outcome.value);
    else call.reject(outcome.error);
  }

  private push(event: PendingEvent): void {
    this.events.push(event);
  }

  private take(id: number): PendingEvent | undefined {
    const index = this.events.findIndex((e) => e.id === id);
    if (index < 0) return undefined;
    return this.events.splice(index, 1)[0];
  }
}

/** One line naming an event, for traces and counterexamples. */
export function describeEvent(event: PendingEvent): string {
  switch (event.kind) {
    case 'request':
      return `#${event.id} ${event.label}: ${event.from.node}#${event.from.epoch} → ${event.to}`;
    case 'reply': {
      const answer = event.outcome.ok
        ? JSON.stringify(event.outcome.value)
        : `error "${event.outcome.error.message}"`;
      return `#${event.id} reply to ${event.label}: ${event.from} → ${event.to.node}#${event.to.epoch} ${answer ?? ''}`;
    }
    case 'storage':
      return `#${event.id} ${event.label} (${event.owner.node}#${event.owner.epoch})`;
  }
}
