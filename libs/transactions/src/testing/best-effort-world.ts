// The world of the best-effort notification property spec (best-effort/best-effort.property.spec.ts): the
// real `BestEffortDispatcher` over the in-memory notification store, with producers whose transactions
// commit or roll back, channels whose calls the schedule answers (delivered, failed, rejected, a reply
// lost after the receiver got it, a throw, or no answer until the time-out), dispatchers that crash
// mid-attempt and restart, simulated time, replays and a receiver that reconciles page by page.
// Its checks are in best-effort-oracle.ts.
import { silentLogger } from '../core/observer';
import { BestEffortDispatcher, DeliveryPolicy } from '../best-effort/dispatcher';
import {
  AttemptFailure,
  ClaimedAttempt,
  ClaimRequest,
  DeliveryContext,
  DeliveryResult,
  NewNotification,
  Notification,
  NotificationChannel,
  NotificationStore,
} from '../ports/best-effort.ports';
import { InMemoryNotificationStore, ownedNotificationStore } from './best-effort-memory';
import { MemorySession } from './memory-session';
import { seededRandom } from './seeded-random';
import { VirtualClock } from './virtual-clock';

export const RECEIVERS = ['station-a', 'station-b'] as const;
export const CHANNELS = ['http', 'sms'] as const;

/** How the schedule answers a channel call. `lost-reply`: the receiver got it, the dispatcher hears a failure. */
export type Fate = 'ok' | 'fail' | 'reject' | 'lost-reply' | 'throw';

export type BestEffortStep =
  /** A producer transaction writes `count` notifications and stays open until a `finish`. */
  | { t: 'begin'; receiver: number; channel: number; count: number }
  | { t: 'finish'; pick: number; rollback: boolean }
  /** One round of a dispatcher (if it is up and not in a round already). */
  | { t: 'dispatch'; dispatcher: number }
  /** Answers one channel call in flight. */
  | { t: 'answer'; pick: number; fate: Fate }
  | { t: 'advance'; ms: number }
  /** Holds a dispatcher's store requests back until `unstall` (a database pause): its leases may run out. */
  | { t: 'stall'; dispatcher: number }
  | { t: 'unstall'; dispatcher: number }
  /** Kills a dispatcher: its calls and store requests in flight never answer it, its timers never fire. */
  | { t: 'crash'; dispatcher: number }
  | { t: 'restart'; dispatcher: number }
  /** The receiver fetches one page of what it should have received since its cursor. */
  | { t: 'reconcile'; receiver: number }
  /** An operator replays one dead letter. */
  | { t: 'replay'; pick: number };

export interface BestEffortScenario {
  dispatchers: number;
  policy: DeliveryPolicy;
  steps: BestEffortStep[];
  seed: number;
}

export interface DispatcherIncarnation {
  slot: number;
  name: string;
  owner: { alive: boolean; stalled?: Promise<void> };
  unstall?: () => void;
  dispatcher: BestEffortDispatcher;
  busy: boolean;
}

/** A claim the store handed out: one attempt, leased to one incarnation. */
export interface ClaimRecord {
  attempt: ClaimedAttempt;
  incarnation: DispatcherIncarnation;
  at: number;
  /** The store released the lease (a retry or dead letter was recorded under it, or it was delivered). */
  released: boolean;
}

/** One call of a channel: a delivery tried. */
export interface ChannelCall {
  notification: Notification;
  attempt: number;
  incarnation: DispatcherIncarnation;
  at: number;
  fate?: Fate;
  settle?: (answer: DeliveryResult | Error) => void;
}

export interface Ledger {
  /** Every key received, duplicates included. */
  receipts: string[];
  /** The receiver's de-duplicated ledger: each key once, in first-receipt order. */
  deduped: string[];
  /** What reconciliation returned so far (ids), in order, and the cursor to go on from. */
  reconciled: string[];
  cursor?: string;
}

interface ProducerTx {
  index: number;
  keys: string[];
  state: 'open' | 'committed' | 'rolled-back';
  finish?: (rollback: boolean) => void;
}

class Rollback extends Error {}

export const flush = async (): Promise<void> => {
  for (let i = 0; i < 4; i += 1) await new Promise((resolve) => setImmediate(resolve));
};

export class BestEffortWorld {
  readonly clock = new VirtualClock();
  readonly store = new InMemoryNotificationStore(this.clock);
  readonly slots: (DispatcherIncarnation | undefined)[] = [];
  readonly claims = new Map<string, ClaimRecord>();
  readonly calls: ChannelCall[] = [];
  readonly ledgers = new Map<string, Ledger>(
    RECEIVERS.map((r) => [r, { receipts: [], deduped: [], reconciled: [] }]),
  );
  readonly txs: ProducerTx[] = [];
  readonly rolledBackKeys = new Set<string>();
  readonly violations: string[] = [];
  readonly trace: string[] = [];
  /** Healing: every new call is answered delivered at once. */
  healthy = false;
  private incarnations = 0;
  private readonly incarnationsByName = new Map<string, DispatcherIncarnation>();
  private readonly recording: NotificationStore<MemorySession>;

  constructor(readonly scenario: BestEffortScenario) {
    this.recording = this.recordingStore();
    for (let slot = 0; slot < scenario.dispatchers; slot += 1) this.slots.push(this.incarnate(slot));
  }

  log(line: string): void {
    this.trace.push(`${this.clock.now() - Date.UTC(2026, 0, 1)}ms ${line}`);
  }

  static claimKey(id: string, number: number): string {
    return `${id}#${number}`;
  }

  async apply(step: BestEffortStep): Promise<void> {
    this.log(JSON.stringify(step));
    switch (step.t) {
      case 'begin':
        this.begin(step.receiver, step.channel, step.count);
        break;
      case 'finish': {
        const open = this.txs.filter((tx) => tx.state === 'open' && tx.finish);
        open[step.pick % Math.max(1, open.length)]?.finish?.(step.rollback);
        break;
      }
      case 'dispatch':
        this.dispatch(step.dispatcher % this.slots.length);
        break;
      case 'answer': {
        const pending = this.calls.filter((c) => c.fate === undefined);
        const call = pending[step.pick % Math.max(1, pending.length)];
        if (call) this.answer(call, step.fate);
        break;
      }
      case 'advance':
        this.clock.advance(step.ms);
        break;
      case 'stall': {
        const incarnation = this.slots[step.dispatcher % this.slots.length];
        if (incarnation && !incarnation.owner.stalled)
          incarnation.owner.stalled = new Promise<void>((resolve) => {
            incarnation.unstall = () => {
              incarnation.owner.stalled = undefined;
              resolve();
            };
          });
        break;
      }
      case 'unstall':
        this.slots[step.dispatcher % this.slots.length]?.unstall?.();
        break;
      case 'crash': {
        const slot = step.dispatcher % this.slots.length;
        const incarnation = this.slots[slot];
        if (incarnation) incarnation.owner.alive = false;
        this.slots[slot] = undefined;
        break;
      }
      case 'restart': {
        const slot = step.dispatcher % this.slots.length;
        this.slots[slot] ??= this.incarnate(slot);
        break;
      }
      case 'reconcile':
        await this.reconcile(RECEIVERS[step.receiver % RECEIVERS.length], 3);
        break;
      case 'replay': {
        const dead = await this.store.deadLetters(100);
        const target = dead[step.pick % Math.max(1, dead.length)];
        if (target) this.log(`replay ${target.id}: ${await this.store.replay(target.id)}`);
        break;
      }
    }
    await flush();
  }

  /** Ends every fault: open transactions commit, calls in flight are answered, every dispatcher runs. */
  async heal(): Promise<void> {
    this.log('heal');
    for (const tx of this.txs) if (tx.state === 'open') tx.finish?.(false);
    await flush();
    this.healthy = true;
    for (const call of this.calls.filter((c) => c.fate === undefined)) this.answer(call, 'ok');
    for (let slot = 0; slot < this.slots.length; slot += 1) {
      this.slots[slot]?.unstall?.();
      this.slots[slot] ??= this.incarnate(slot);
    }
    await flush();
  }

  /** Runs dispatchers and time until nothing is pending (or a bound is reached). Returns whether it drained. */
  async drain(): Promise<boolean> {
    for (let round = 0; round < 5_000; round += 1) {
      for (let slot = 0; slot < this.slots.length; slot += 1) this.dispatch(slot);
      await flush();
      const pending = [...this.store.rows.values()].filter((row) => row.state === 'pending');
      const busy = this.slots.some((s) => s?.busy);
      if (pending.length === 0 && !busy) return true;
      const next = Math.min(...pending.map((row) => row.nextAttemptAt));
      if (!busy && next > this.clock.now()) this.clock.advanceTo(next);
      else if (busy) this.clock.fireNext();
    }
    return false;
  }

  /** Replays every dead letter (an operator after the receiver is fixed). */
  async replayAll(): Promise<void> {
    for (const dead of await this.store.deadLetters(10_000)) await this.store.replay(dead.id);
  }

  /** One reconciliation page for `receiver` from its cursor; records what it returned. */
  async reconcile(receiver: string, limit: number): Promise<number> {
    const ledger = this.ledgers.get(receiver);
    if (!ledger) return 0;
    const page = await this.store.since(receiver, ledger.cursor, limit);
    for (const notification of page.notifications) {
      if (!this.store.rows.has(notification.id))
        this.violations.push(`reconciliation returned ${notification.id}, which never committed`);
      if (notification.receiver !== receiver)
        this.violations.push(`reconciliation for ${receiver} returned one for ${notification.receiver}`);
      if (ledger.reconciled.includes(notification.id))
        this.violations.push(`reconciliation returned ${notification.id} twice to ${receiver}`);
      ledger.reconciled.push(notification.id);
    }
    ledger.cursor = page.next;
    return page.notifications.length;
  }

  // --- producers ---------------------------------------------------------------------------------------

  private begin(receiver: number, channel: number, count: number): void {
    const tx: ProducerTx = { index: this.txs.length, keys: [], state: 'open' };
    this.txs.push(tx);
    const items: NewNotification[] = Array.from({ length: count }, (_, i) => ({
      receiver: RECEIVERS[(receiver + i) % RECEIVERS.length],
      channel: CHANNELS[(channel + i) % CHANNELS.length],
      type: 'test.alert',
      payload: { tx: tx.index, i },
      idempotencyKey: `k${tx.index}.${i}`,
      gtid: `g${tx.index}`,
    }));
    tx.keys = items.map((item) => item.idempotencyKey ?? '');
    this.store
      .transaction(async (session) => {
        await this.store.append(session, items);
        const rollback = await new Promise<boolean>((resolve) => {
          tx.finish = resolve;
        });
        if (rollback) throw new Rollback();
      })
      .then(
        () => {
          tx.state = 'committed';
        },
        () => {
          tx.state = 'rolled-back';
          for (const key of tx.keys) this.rolledBackKeys.add(key);
        },
      );
  }

  // --- dispatchers and channels ------------------------------------------------------------------------

  private incarnate(slot: number): DispatcherIncarnation {
    this.incarnations += 1;
    const owner = { alive: true };
    const name = `d${slot}.${this.incarnations}`;
    const channels: Record<string, NotificationChannel> = {};
    const incarnation: DispatcherIncarnation = { slot, name, owner, busy: false } as DispatcherIncarnation;
    for (const channel of CHANNELS)
      channels[channel] = {
        deliver: (notification, context) => this.call(incarnation, notification, context),
      };
    incarnation.dispatcher = new BestEffortDispatcher(
      ownedNotificationStore(this.recording, owner),
      channels,
      { ...this.scenario.policy, name },
      undefined,
      silentLogger,
      this.clock.forOwner(owner),
      seededRandom(this.scenario.seed + this.incarnations),
    );
    this.incarnationsByName.set(name, incarnation);
    this.log(`incarnate ${name}`);
    return incarnation;
  }

  private dispatch(slot: number): void {
    const incarnation = this.slots[slot];
    if (!incarnation || incarnation.busy) return;
    incarnation.busy = true;
    incarnation.dispatcher.dispatchBatch().then(
      (round) => {
        incarnation.busy = false;
        this.log(`${incarnation.name} round: ${round.attempted} attempted`);
      },
      (error: unknown) => {
        incarnation.busy = false;
        this.violations.push(`${incarnation.name} round failed: ${String(error)}`);
      },
    );
  }

  private call(
    incarnation: DispatcherIncarnation,
    notification: Notification,
    context: DeliveryContext,
  ): Promise<DeliveryResult> {
    const key = BestEffortWorld.claimKey(notification.id, context.attempt);
    const claim = this.claims.get(key);
    if (!claim || claim.incarnation !== incarnation)
      this.violations.push(`${incarnation.name} called the channel for ${key} without holding its claim`);
    if (this.calls.some((c) => c.notification.id === notification.id && c.attempt === context.attempt))
      this.violations.push(`two channel calls for attempt ${key}`);
    const record = this.store.rows
      .get(notification.id)
      ?.attemptRecords.find((r) => r.number === context.attempt);
    if (!record || record.startedAt.getTime() > this.clock.now())
      this.violations.push(`channel called for ${key} before its attempt was recorded`);
    const call: ChannelCall = { notification, attempt: context.attempt, incarnation, at: this.clock.now() };
    this.calls.push(call);
    this.log(`${incarnation.name} calls ${notification.channel} for ${key} (${notification.idempotencyKey})`);
    if (this.healthy) {
      call.fate = 'ok';
      this.receive(notification);
      return Promise.resolve({ kind: 'delivered' });
    }
    return new Promise<DeliveryResult>((resolve, reject) => {
      call.settle = (answer) => (answer instanceof Error ? reject(answer) : resolve(answer));
    });
  }

  private answer(call: ChannelCall, fate: Fate): void {
    call.fate = fate;
    this.log(`answer ${call.notification.id}#${call.attempt}: ${fate}`);
    if (fate === 'ok' || fate === 'lost-reply') this.receive(call.notification);
    const answers: Record<Fate, DeliveryResult | Error> = {
      ok: { kind: 'delivered' },
      fail: { kind: 'retryable', reason: 'station busy' },
      reject: { kind: 'permanent', reason: 'unknown receiver' },
      'lost-reply': new Error('connection reset after the request was sent'),
      throw: new Error('connection refused'),
    };
    call.settle?.(answers[fate]);
  }

  private receive(notification: Notification): void {
    const ledger = this.ledgers.get(notification.receiver);
    if (!ledger) return;
    ledger.receipts.push(notification.idempotencyKey);
    if (!ledger.deduped.includes(notification.idempotencyKey))
      ledger.deduped.push(notification.idempotencyKey);
  }

  /** The store as dispatchers use it, recording each claim (and checking its lease) and each release. */
  private recordingStore(): NotificationStore<MemorySession> {
    const store = this.store;
    const release = (attempt: ClaimedAttempt, released: boolean, decides = true): void => {
      const { id } = attempt.notification;
      const claim = this.claims.get(BestEffortWorld.claimKey(id, attempt.number));
      if (claim && released) claim.released = true;
      // Only the latest claim decides what follows (a retry or a dead letter): an older one lost its lease.
      if (released && decides && this.claims.has(BestEffortWorld.claimKey(id, attempt.number + 1)))
        this.violations.push(`${id}#${attempt.number} decided the notification after a later claim took it`);
    };
    return {
      append: (session, items) => store.append(session, items),
      claim: async (request: ClaimRequest) => {
        const result = await store.claim(request);
        const now = this.clock.now();
        for (const attempt of result.attempts) {
          const id = attempt.notification.id;
          for (const earlier of this.claims.values()) {
            if (
              earlier.attempt.notification.id === id &&
              !earlier.released &&
              earlier.attempt.leaseUntil.getTime() > now
            )
              this.violations.push(
                `${id} claimed by ${request.dispatcher} while ${earlier.incarnation.name}'s lease held`,
              );
          }
          const owner = this.incarnationsByName.get(request.dispatcher);
          if (owner)
            this.claims.set(BestEffortWorld.claimKey(id, attempt.number), {
              attempt,
              incarnation: owner,
              at: now,
              released: false,
            });
        }
        return result;
      },
      markDelivered: async (attempt) => {
        await store.markDelivered(attempt);
        release(attempt, true, false);
      },
      scheduleRetry: async (attempt, failure: AttemptFailure, delayMs) => {
        const held = await store.scheduleRetry(attempt, failure, delayMs);
        release(attempt, held);
        return held;
      },
      deadLetter: async (attempt, failure) => {
        const held = await store.deadLetter(attempt, failure);
        release(attempt, held);
        return held;
      },
      deadLetters: (limit, channel) => store.deadLetters(limit, channel),
      replay: (id) => store.replay(id),
      find: (id) => store.find(id),
      since: (receiver, from, limit) => store.since(receiver, from, limit),
      waitForWork: (ms) => store.waitForWork(ms),
    };
  }
}
