import fc from 'fast-check';
import { ProtocolPoint } from '../core/protocol-points';
import { Disposition, NewOutboxEvent } from '../ports/messaging.ports';
import {
  BrokerChannel,
  BrokerDelivery,
  InMemoryInbox,
  InMemoryOutboxStore,
  MemoryEffectLog,
  MemorySession,
  MemoryTransactionRunner,
  OutboxConnection,
  seededRandom,
  SimulatedBroker,
} from '../testing';
import { InboxConsumer, MessageHandler, RejectedMessageError } from './inbox-consumer';
import { OutboxRelay } from './outbox-relay';

/**
 * Property-based spec of the outbox / inbox style: the real `OutboxRelay` and `InboxConsumer` over the
 * in-memory outbox, inbox and broker of `../testing`, under random schedules of producer transactions
 * (some rolled back, some lost to a producer database crash), 1–2 relays per producer (batches confirmed
 * in halves, relays killed anywhere before the mark), broker outages (in-flight publishes cut short,
 * consumer channels dropped), duplicates, streams of different aggregates interleaved, 1–2 consumer replicas
 * (single active consumer; crashes before and after the commit, channel losses with the old batch still
 * committing, transactions held open while another replica works), a handler that rejects designated
 * messages for good and fails transiently, delayed retries (nack + requeue at the front or the back), and
 * routing keys left without a bound queue for a while (the broker returns what is published to them).
 *
 * Safety after every step: no effect twice, none from a rolled-back transaction, none of a poison message;
 * per (source, aggregate) no message applied before every earlier one was applied or dead-lettered (with
 * patience to spare, every decision in sequence order); no outbox message marked published that never
 * reached the queue, nor ahead of an earlier message of its aggregate. After healing and draining:
 * every committed event applied exactly once (poison ones dead-lettered exactly once, in the dead-letter
 * queue, without effect), nothing pending in any outbox, nothing left in the broker.
 *
 * A failure prints fast-check's seed and path and the run's trace; replay with FC_SEED=<seed> FC_PATH=<path>.
 */

const SOURCES = ['pharmacy', 'supply-chain'];
const AGGREGATES = ['drug-1', 'drug-2', 'drug-3', 'po-7'];
/** Routing keys events are published to; the consumer's queue is bound to both unless a step unbinds one. */
const ROUTES = ['stock', 'reorder'];
const CONSUMER = 'inventory';

interface EventPlan {
  aggregate: number;
  route: number;
  poison: boolean;
  /** Handler calls that fail transiently before it succeeds. */
  transient: number;
}

interface TxPlan {
  source: number;
  events: EventPlan[];
  rollback: boolean;
}

type RelayKillPoint = Extract<ProtocolPoint, 'outbox.relay.mid-batch' | 'outbox.relay.after-publish'>;

type Step =
  /** The next planned producer transaction opens and appends (it may wait for an aggregate lock). */
  | { t: 'begin' }
  /** An open producer transaction that has appended commits or rolls back (as planned). */
  | { t: 'finish'; pick: number }
  /** A relay starts a round; `killAt` kills it at that point of the round. */
  | { t: 'relay'; relay: number; killAt?: RelayKillPoint }
  /** The broker confirms a relay's oldest in-flight publish. */
  | { t: 'confirm'; relay: number }
  /** A relay process dies wherever it is (its claim rolls back; part of an in-flight publish may be queued). */
  | { t: 'killRelay'; relay: number }
  /** The active consumer gets a batch; `hold` keeps its first transaction open before commit. */
  | { t: 'deliver'; max: number; hold: boolean; crashAfterCommit: boolean }
  /** A held consumer transaction goes on to commit. */
  | { t: 'resume' }
  /** A delayed retry fires: the delivery is nacked and requeued. */
  | { t: 'nack'; pick: number }
  | { t: 'killConsumer'; replica: number }
  /** A replica's channel closes; its batch in progress goes on (and may commit); it reattaches. */
  | { t: 'loseChannel'; replica: number }
  | { t: 'restartConsumer'; replica: number }
  | { t: 'outage' }
  | { t: 'restore' }
  | { t: 'duplicate' }
  /** A producer database crashes: open transactions and claims roll back, unflushed marks may be lost. */
  | { t: 'dbCrash'; source: number }
  /** The queue's binding for a routing key goes away (messages to it are returned), or comes back. */
  | { t: 'unbind'; route: number }
  | { t: 'bind'; route: number }
  /** The back-off of messages held as unroutable runs out: they are claimable again. */
  | { t: 'backoff' };

type StepKind = Step['t'];

interface Scenario {
  sources: number;
  relaysPerSource: number;
  replicas: number;
  claimLocks: 'all-free' | 'needed';
  batchSize: number;
  prefetch: number;
  interleave: boolean;
  transactions: TxPlan[];
  steps: Step[];
  seed: number;
}

class Crash extends Error {}
class Rollback extends Error {}

const flush = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

interface ProducerTx {
  index: number;
  store: InMemoryOutboxStore;
  plan: TxPlan;
  events: NewOutboxEvent[];
  state: 'appending' | 'appended' | 'committed' | 'failed';
  finish?: () => void;
}

interface RelayIncarnation {
  slot: number;
  store: InMemoryOutboxStore;
  owner: string;
  connection: OutboxConnection;
  relay: OutboxRelay;
  busy: boolean;
  killAt?: RelayKillPoint;
}

interface Replica {
  index: number;
  owner: { alive: boolean };
  runner: MemoryTransactionRunner;
  consumer: InboxConsumer<MemorySession>;
  channel?: BrokerChannel;
  busy: boolean;
  holdNext: boolean;
  crashAfterCommit: boolean;
  /** Deliveries to nack later (the adapter's retry timers). */
  retries: BrokerDelivery[];
}

class OutboxWorld {
  readonly random: () => number;
  readonly broker: SimulatedBroker;
  readonly stores: InMemoryOutboxStore[];
  readonly inbox = new InMemoryInbox();
  readonly effects = new MemoryEffectLog();
  readonly txs: ProducerTx[] = [];
  readonly relays: RelayIncarnation[] = [];
  readonly replicas: Replica[] = [];
  readonly trace: string[] = [];
  readonly violations: string[] = [];
  /** Held consumer commits, oldest first. */
  private holds: (() => void)[] = [];
  private readonly plans = new Map<string, EventPlan>();
  private readonly transientLeft = new Map<string, number>();
  private readonly handler: MessageHandler<MemorySession>;
  private nextTx = 0;
  private incarnations = 0;

  constructor(
    readonly scenario: Scenario,
    readonly maxAttempts: number,
  ) {
    this.random = seededRandom(scenario.seed);
    this.broker = new SimulatedBroker({ random: this.random, interleave: scenario.interleave });
    this.stores = SOURCES.slice(0, scenario.sources).map(
      (source) => new InMemoryOutboxStore({ source, partitions: 4, claimLocks: scenario.claimLocks }),
    );
    scenario.transactions.forEach((plan, i) =>
      plan.events.forEach((event, j) => {
        this.plans.set(`t${i}.${j}`, event);
        this.transientLeft.set(`t${i}.${j}`, event.transient);
      }),
    );
    this.handler = {
      handle: (session, message) => {
        const plan = this.plans.get(message.id);
        if (plan?.poison) return Promise.reject(new RejectedMessageError('designated poison'));
        const left = this.transientLeft.get(message.id) ?? 0;
        if (left > 0) {
          this.transientLeft.set(message.id, left - 1);
          return Promise.reject(new Error('transient failure'));
        }
        this.effects.write(session, {
          messageId: message.id,
          source: message.source,
          aggregateId: message.aggregateId,
          sequence: message.sequence,
          deliveryCount: message.deliveryCount,
        });
        return Promise.resolve();
      },
    };
    for (let s = 0; s < this.stores.length; s += 1)
      for (let r = 0; r < scenario.relaysPerSource; r += 1)
        this.relays.push(this.newRelay(this.relays.length, s));
    for (let r = 0; r < scenario.replicas; r += 1) this.replicas.push(this.newReplica(r));
  }

  log(line: string): void {
    this.trace.push(line);
  }

  private pick(n: number): number {
    return Math.min(n - 1, Math.floor(this.random() * n));
  }

  // --- producers -------------------------------------------------------------------------------------

  beginNext(): void {
    if (this.nextTx >= this.scenario.transactions.length) return;
    const index = this.nextTx++;
    const plan = this.scenario.transactions[index];
    const store = this.stores[plan.source % this.stores.length];
    const events = plan.events.map((e, j): NewOutboxEvent => ({
      id: `t${index}.${j}`,
      gtid: `t${index}.${j}`,
      exchange: 'inventory.events',
      routingKey: ROUTES[e.route % ROUTES.length],
      type: 'stock.changed',
      aggregateId: AGGREGATES[e.aggregate % AGGREGATES.length],
      payload: { tx: index, event: j },
    }));
    const tx: ProducerTx = { index, store, plan, events, state: 'appending' };
    this.txs.push(tx);
    this.log(
      `begin t${index} on ${store.source}: ${events.map((e) => `${e.id}@${e.aggregateId}`).join(' ')}`,
    );
    store
      .transaction(async (session) => {
        await store.append(session, events);
        tx.state = 'appended';
        await new Promise<void>((resolve) => {
          tx.finish = resolve;
        });
        if (plan.rollback) throw new Rollback();
      })
      .then(
        () => {
          tx.state = 'committed';
          this.log(`t${index} committed`);
        },
        (error: unknown) => {
          tx.state = 'failed';
          this.log(`t${index} rolled back (${error instanceof Rollback ? 'as planned' : String(error)})`);
        },
      );
  }

  finishOne(pick: number): void {
    const ready = this.txs.filter((tx) => tx.state === 'appended' && tx.finish);
    if (ready.length === 0) return;
    const tx = ready[pick % ready.length];
    const finish = tx.finish;
    tx.finish = undefined;
    finish?.();
  }

  get producersDone(): boolean {
    return (
      this.nextTx >= this.scenario.transactions.length &&
      this.txs.every((tx) => tx.state === 'committed' || tx.state === 'failed')
    );
  }

  // --- relays ----------------------------------------------------------------------------------------

  private newRelay(slot: number, source: number): RelayIncarnation {
    const store = this.stores[source];
    const owner = `${store.source}-relay${slot}#${++this.incarnations}`;
    const connection = store.connect();
    const incarnation: RelayIncarnation = {
      slot,
      store,
      owner,
      connection,
      busy: false,
      relay: new OutboxRelay(connection, this.broker.publisher(owner), {
        batchSize: this.scenario.batchSize,
        pollMs: 10,
        points: (point) => {
          if (incarnation.killAt === point) {
            this.log(`${owner} killed at ${point}`);
            this.killRelay(incarnation);
            throw new Crash(point);
          }
        },
      }),
    };
    return incarnation;
  }

  startRelay(slot: number, killAt?: RelayKillPoint): void {
    const incarnation = this.relays[slot % this.relays.length];
    if (incarnation.busy) return;
    incarnation.busy = true;
    incarnation.killAt = killAt;
    incarnation.relay.publishBatch().then(
      (published) => {
        incarnation.busy = false;
        if (published > 0) this.log(`${incarnation.owner} published and marked ${published}`);
      },
      (error: unknown) => {
        incarnation.busy = false;
        this.log(`${incarnation.owner} round failed: ${String(error)}`);
      },
    );
  }

  confirm(slot: number): void {
    const incarnation = this.relays[slot % this.relays.length];
    const ids = this.broker.inFlightOf(incarnation.owner)[0]?.messages.map((m) => m.id) ?? [];
    if (this.broker.confirm(incarnation.owner))
      this.log(`broker confirms ${incarnation.owner}: ${ids.join(' ')}`);
  }

  killRelay(incarnation: RelayIncarnation): void {
    this.publishFaults = true;
    incarnation.connection.kill();
    const before = this.broker.history.length;
    this.broker.dropPublisher(incarnation.owner);
    const queued = this.broker.history.slice(before).map((m) => m.id);
    this.log(`${incarnation.owner} dies (queued from its in-flight publish: ${queued.join(' ') || 'none'})`);
    const slot = this.relays.indexOf(incarnation);
    if (slot >= 0) this.relays[slot] = this.newRelay(slot, this.stores.indexOf(incarnation.store));
  }

  // --- consumers -------------------------------------------------------------------------------------

  private newReplica(index: number): Replica {
    const owner = { alive: true };
    const replica: Replica = {
      index,
      owner,
      busy: false,
      holdNext: false,
      crashAfterCommit: false,
      retries: [],
      runner: new MemoryTransactionRunner({
        owner,
        beforeCommit: () => {
          if (!replica.holdNext) return Promise.resolve();
          replica.holdNext = false;
          this.log(`consumer ${index} holds a transaction open before commit`);
          return new Promise<void>((resolve) => this.holds.push(resolve));
        },
      }),
      consumer: undefined as unknown as InboxConsumer<MemorySession>,
    };
    replica.consumer = new InboxConsumer(replica.runner, this.inbox, this.handler, {
      name: CONSUMER,
      maxAttempts: this.maxAttempts,
      points: (point) => {
        if (point === 'outbox.consumer.after-commit' && replica.crashAfterCommit) {
          this.log(`consumer ${index} crashes after commit, before ack`);
          this.killReplica(replica);
        }
      },
    });
    this.attach(replica);
    return replica;
  }

  private attach(replica: Replica): void {
    if (!this.broker.up || !replica.owner.alive || replica.channel?.open) return;
    replica.channel = this.broker.attach(`consumer-${replica.index}`);
  }

  killReplica(replica: Replica): void {
    if (!replica.owner.alive) return;
    replica.owner.alive = false;
    replica.runner.abortAll();
    if (replica.channel) this.broker.close(replica.channel);
    replica.retries = [];
  }

  deliver(max: number, hold: boolean, crashAfterCommit: boolean): void {
    const channel = this.broker.active();
    const replica = this.replicas.find((r) => r.owner.alive && r.channel === channel);
    if (!channel || !replica || replica.busy) return;
    const room = Math.min(max, this.scenario.prefetch - channel.unacked.length);
    if (room <= 0) return;
    const batch = this.broker.deliver(channel, room);
    if (batch.length === 0) return;
    this.log(
      `consumer ${replica.index} gets ${batch.map((d) => `${d.message.id}#${d.message.deliveryCount}`).join(' ')}` +
        `${hold ? ' (held)' : ''}${crashAfterCommit ? ' (crash after commit)' : ''}`,
    );
    replica.holdNext = hold;
    replica.crashAfterCommit = crashAfterCommit;
    void this.handle(replica, batch);
  }

  /** What `RabbitMqConsumer.handle` does with the consumer's decisions. */
  private async handle(replica: Replica, batch: BrokerDelivery[]): Promise<void> {
    replica.busy = true;
    try {
      const dispositions: Disposition[] = await replica.consumer.process(batch.map((d) => d.message));
      if (!replica.owner.alive) return;
      if (dispositions.length !== batch.length)
        this.violations.push(`${dispositions.length} dispositions for a batch of ${batch.length}`);
      this.log(
        `consumer ${replica.index} decides ${batch.map((d, i) => `${d.message.id}:${dispositions[i]?.kind}`).join(' ')}`,
      );
      for (const [i, delivery] of batch.entries()) {
        const disposition = dispositions[i];
        if (disposition.kind === 'dead-letter' && !this.plans.get(delivery.message.id)?.poison)
          this.deadLetteredHealthy.add(delivery.message.id);
        try {
          switch (disposition.kind) {
            case 'applied':
            case 'duplicate':
              this.broker.ack(delivery);
              break;
            case 'dead-letter':
              await this.broker.deadLetter(delivery, disposition.reason);
              if (!replica.owner.alive) return;
              this.broker.ack(delivery);
              break;
            case 'retry':
              if (delivery.channel.open) replica.retries.push(delivery);
              break;
          }
        } catch {
          // The channel is gone: the broker redelivers.
        }
      }
    } finally {
      replica.busy = false;
      replica.holdNext = false;
      replica.crashAfterCommit = false;
    }
  }

  /** A relay died, the broker went down or a producer database crashed: messages may be published twice. */
  publishFaults = false;

  /** Non-poison messages the consumer decided to dead-letter (after exhausting its attempts). */
  readonly deadLetteredHealthy = new Set<string>();

  resume(): void {
    this.holds.shift()?.();
  }

  nack(pick: number): void {
    const pending = this.replicas.flatMap((r) => (r.owner.alive ? r.retries.map((d) => ({ r, d })) : []));
    if (pending.length === 0) return;
    const { r, d } = pending[pick % pending.length];
    r.retries.splice(r.retries.indexOf(d), 1);
    try {
      this.broker.nack(d);
      this.log(`retry of ${d.message.id} nacked and requeued`);
    } catch {
      // The channel closed meanwhile: the broker already took it back.
    }
  }

  restartReplica(index: number): void {
    const slot = index % this.replicas.length;
    if (this.replicas[slot].owner.alive) return;
    this.replicas[slot] = this.newReplica(slot);
    this.log(`consumer ${slot} restarts`);
  }

  loseChannel(index: number): void {
    const replica = this.replicas[index % this.replicas.length];
    if (!replica.owner.alive || !replica.channel?.open) return;
    this.broker.close(replica.channel);
    replica.retries = [];
    this.log(`consumer ${replica.index} loses its channel${replica.busy ? ' mid-batch' : ''}`);
    this.attach(replica);
  }

  outage(): void {
    if (!this.broker.up) return;
    this.publishFaults = true;
    this.broker.outage();
    for (const replica of this.replicas) replica.retries = [];
    this.log('broker outage');
  }

  restore(): void {
    if (this.broker.up) return;
    this.broker.restore();
    for (const replica of this.replicas) this.attach(replica);
    this.log('broker back');
  }

  releaseHeld(): void {
    for (const store of this.stores) {
      const held = store.heldIds();
      if (store.releaseHeld() > 0) this.log(`${store.source} releases held ${held.join(' ')}`);
    }
  }

  dbCrash(source: number): void {
    const store = this.stores[source % this.stores.length];
    store.crash((unflushed) => this.pick(unflushed + 1));
    this.publishFaults = true;
    this.log(`${store.source} database crashes`);
  }

  // --- steps, healing, checks ------------------------------------------------------------------------

  async apply(step: Step): Promise<void> {
    switch (step.t) {
      case 'begin':
        this.beginNext();
        break;
      case 'finish':
        this.finishOne(step.pick);
        break;
      case 'relay':
        this.startRelay(step.relay, step.killAt);
        break;
      case 'confirm':
        this.confirm(step.relay);
        break;
      case 'killRelay':
        this.killRelay(this.relays[step.relay % this.relays.length]);
        break;
      case 'deliver':
        this.deliver(step.max, step.hold, step.crashAfterCommit);
        break;
      case 'resume':
        this.resume();
        break;
      case 'nack':
        this.nack(step.pick);
        break;
      case 'killConsumer': {
        const replica = this.replicas[step.replica % this.replicas.length];
        if (replica.owner.alive)
          this.log(`consumer ${replica.index} crashes${replica.busy ? ' mid-batch' : ''}`);
        this.killReplica(replica);
        break;
      }
      case 'loseChannel':
        this.loseChannel(step.replica);
        break;
      case 'restartConsumer':
        this.restartReplica(step.replica);
        break;
      case 'outage':
        this.outage();
        break;
      case 'restore':
        this.restore();
        break;
      case 'duplicate':
        if (this.broker.duplicate())
          this.log(`duplicate of ${this.broker.history[this.broker.history.length - 1].id}`);
        break;
      case 'dbCrash':
        this.dbCrash(step.source);
        break;
      case 'unbind':
        this.broker.unbind(ROUTES[step.route % ROUTES.length]);
        this.log(`routing key ${ROUTES[step.route % ROUTES.length]} unbound`);
        break;
      case 'bind':
        this.broker.bind(ROUTES[step.route % ROUTES.length]);
        this.log(`routing key ${ROUTES[step.route % ROUTES.length]} bound`);
        break;
      case 'backoff':
        this.releaseHeld();
        break;
    }
    await flush();
  }

  /** Faults stop: everything restarts and runs until nothing is left to do. */
  async heal(): Promise<void> {
    this.log('--- heal');
    this.restore();
    for (const route of ROUTES) this.broker.bind(route);
    for (const relay of this.relays) relay.killAt = undefined;
    for (const replica of this.replicas) {
      replica.holdNext = false;
      replica.crashAfterCommit = false;
    }
    while (this.holds.length > 0) this.holds.shift()?.();
    for (let r = 0; r < this.replicas.length; r += 1) this.restartReplica(r);
    await flush();
    for (let round = 0; round < 200 && !this.producersDone; round += 1) {
      this.beginNext();
      while (this.txs.some((tx) => tx.state === 'appended' && tx.finish)) this.finishOne(0);
      await flush();
    }
    for (let round = 0; round < 400; round += 1) {
      this.releaseHeld();
      for (let slot = 0; slot < this.relays.length; slot += 1) this.startRelay(slot);
      await flush();
      while (this.relays.some((r) => this.broker.inFlightOf(r.owner).length > 0)) {
        for (let slot = 0; slot < this.relays.length; slot += 1) this.confirm(slot);
        await flush();
      }
      for (let batches = 0; batches < 100 && this.broker.queue.length > 0; batches += 1) {
        this.deliver(this.scenario.prefetch, false, false);
        await flush();
        if (!this.broker.active()) break;
      }
      for (const replica of this.replicas) while (replica.retries.length > 0) this.nack(0);
      await flush();
      if (this.quiet) return;
    }
  }

  get quiet(): boolean {
    return (
      this.producersDone &&
      this.stores.every((s) => s.pendingIds().length === 0 && s.heldClaims === 0) &&
      this.broker.quiet &&
      this.relays.every((r) => !r.busy) &&
      this.replicas.every((r) => !r.busy && r.retries.length === 0)
    );
  }

  /** Committed events by id: source, aggregate, sequence. */
  committedEvents(): Map<string, { source: string; aggregateId: string; sequence: number }> {
    const events = new Map<string, { source: string; aggregateId: string; sequence: number }>();
    for (const store of this.stores)
      for (const [id, row] of store.rows)
        events.set(id, {
          source: store.source,
          aggregateId: row.message.aggregateId,
          sequence: row.message.sequence,
        });
    return events;
  }

  /** Safety, at any moment. */
  checkSafety(strictOrder: boolean): string[] {
    const problems = [...this.violations];
    const committed = this.committedEvents();
    const applied = new Set<string>();
    for (const effect of this.effects.committed) {
      if (applied.has(effect.messageId)) problems.push(`${effect.messageId} applied twice`);
      applied.add(effect.messageId);
      if (!committed.has(effect.messageId))
        problems.push(`${effect.messageId} applied but its producer transaction did not commit`);
      if (this.plans.get(effect.messageId)?.poison) problems.push(`poison ${effect.messageId} applied`);
    }
    // Decisions (applied or dead-lettered) per (source, aggregate), in commit order: a message is applied
    // only after every earlier one of its aggregate was decided. With patience to spare nothing healthy is
    // dead-lettered, so every decision comes in sequence order; otherwise a message that waited too long for
    // its predecessor may be dead-lettered ahead of it (never applied ahead of it).
    const decided = new Map<string, Set<number>>();
    for (const entry of this.inbox.log) {
      const event = committed.get(entry.messageId);
      if (!event) {
        problems.push(`${entry.messageId} in the inbox but its producer transaction did not commit`);
        continue;
      }
      const key = `${event.source}|${event.aggregateId}`;
      const done = decided.get(key) ?? new Set<number>();
      decided.set(key, done);
      if (entry.outcome === 'applied' || strictOrder) {
        const missing = [...Array(event.sequence - 1).keys()].map((i) => i + 1).find((s) => !done.has(s));
        if (missing !== undefined)
          problems.push(
            `${key}: ${entry.messageId} (sequence ${event.sequence}) ${entry.replacing ? 're-' : ''}decided ` +
              `${entry.outcome} before sequence ${missing} was decided`,
          );
      }
      done.add(event.sequence);
    }
    // The outbox counts a message delivered only once the broker routed it to the queue, and per aggregate
    // only behind every earlier message (a mark lost to a database crash takes the later ones with it).
    for (const store of this.stores) {
      const firstPending = new Map<string, number>();
      for (const row of store.rows.values())
        if (!row.published)
          firstPending.set(
            row.message.aggregateId,
            Math.min(firstPending.get(row.message.aggregateId) ?? Infinity, row.message.sequence),
          );
      for (const [id, row] of store.rows) {
        if (!row.published) continue;
        if ((this.broker.publishedCount.get(id) ?? 0) === 0)
          problems.push(`${id} marked published but never reached the queue`);
        const before = firstPending.get(row.message.aggregateId) ?? Infinity;
        if (row.message.sequence > before)
          problems.push(
            `${id} (sequence ${row.message.sequence}) marked published while sequence ${before} of ` +
              `${row.message.aggregateId} is pending`,
          );
      }
    }
    return problems;
  }

  /** After healing: everything delivered. */
  checkComplete(strict: boolean): string[] {
    const problems: string[] = [];
    const committed = this.committedEvents();
    const effectCount = new Map<string, number>();
    for (const effect of this.effects.committed)
      effectCount.set(effect.messageId, (effectCount.get(effect.messageId) ?? 0) + 1);
    const deadLettered = new Set(this.broker.deadLetters.map((d) => d.message.id));
    for (const tx of this.txs) {
      const ids = tx.events.map((e) => e.id ?? '');
      const inStore = ids.filter((id) => committed.has(id));
      if (tx.state === 'committed' && inStore.length !== ids.length)
        problems.push(`t${tx.index} reported committed but its events are not all in the outbox`);
      if (tx.state !== 'committed' && inStore.length > 0)
        problems.push(`t${tx.index} not committed but its events are in the outbox`);
      if (tx.state !== 'committed')
        for (const id of ids) {
          if (this.broker.history.some((m) => m.id === id))
            problems.push(`${id} of a rolled-back transaction was published`);
          if (this.inbox.outcome(CONSUMER, id) !== undefined)
            problems.push(`${id} of a rolled-back transaction in the inbox`);
        }
    }
    for (const [id] of committed) {
      const poison = this.plans.get(id)?.poison ?? false;
      const outcome = this.inbox.outcome(CONSUMER, id);
      const count = effectCount.get(id) ?? 0;
      if (poison || (!strict && outcome === 'dead-lettered')) {
        if (count !== 0) problems.push(`${id} dead-lettered yet applied ${count} time(s)`);
        if (outcome !== 'dead-lettered') problems.push(`poison ${id} has inbox outcome ${outcome ?? 'none'}`);
        if (!deadLettered.has(id))
          problems.push(`${id} dead-lettered in the inbox but not in the dead-letter queue`);
      } else {
        if (count !== 1) problems.push(`${id} applied ${count} time(s)`);
        if (outcome !== 'applied') problems.push(`${id} has inbox outcome ${outcome ?? 'none'}`);
      }
    }
    for (const id of deadLettered)
      if (!this.plans.get(id)?.poison && (strict || this.inbox.outcome(CONSUMER, id) !== 'dead-lettered'))
        problems.push(`healthy ${id} in the dead-letter queue`);
    if (strict)
      for (const id of this.deadLetteredHealthy) problems.push(`healthy ${id} dead-lettered by the consumer`);
    for (const [id] of committed) {
      const published = this.broker.publishedCount.get(id) ?? 0;
      // Claims hold partitions, so without a relay, broker or database fault no message is published twice
      // (a message routed to no queue sends the later ones of its aggregate in the batch out again, too).
      if (published === 0 || (published > 1 && !this.publishFaults && !this.broker.returnedAny))
        problems.push(
          `${id} published ${published} time(s)${this.publishFaults ? '' : ' without any fault'}`,
        );
    }
    for (const store of this.stores) {
      const pending = store.pendingIds();
      if (pending.length > 0) problems.push(`${store.source} outbox still pending: ${pending.join(' ')}`);
      if (store.heldClaims > 0) problems.push(`${store.source} outbox has ${store.heldClaims} claim(s) held`);
    }
    if (!this.quiet)
      problems.push(
        `not quiet after draining: queue ${this.broker.queue.map((q) => q.message.id).join(' ')}, producers done ${this.producersDone}`,
      );
    return problems;
  }
}

// --- arbitraries -----------------------------------------------------------------------------------------

const eventPlan: fc.Arbitrary<EventPlan> = fc.record({
  aggregate: fc.nat(3),
  route: fc.oneof({ arbitrary: fc.constant(0), weight: 3 }, { arbitrary: fc.constant(1), weight: 1 }),
  poison: fc.oneof(
    { arbitrary: fc.constant(false), weight: 12 },
    { arbitrary: fc.constant(true), weight: 1 },
  ),
  transient: fc.oneof(
    { arbitrary: fc.constant(0), weight: 4 },
    { arbitrary: fc.integer({ min: 1, max: 2 }), weight: 1 },
  ),
});

const txPlan: fc.Arbitrary<TxPlan> = fc.record({
  source: fc.nat(1),
  events: fc.array(eventPlan, { minLength: 1, maxLength: 3 }),
  rollback: fc.oneof(
    { arbitrary: fc.constant(false), weight: 4 },
    { arbitrary: fc.constant(true), weight: 1 },
  ),
});

const slot = fc.nat(3);

const stepArbitraries: Record<StepKind, fc.Arbitrary<Step>> = {
  begin: fc.constant({ t: 'begin' as const }),
  finish: fc.record({ t: fc.constant('finish' as const), pick: fc.nat(7) }),
  relay: fc.record(
    {
      t: fc.constant('relay' as const),
      relay: slot,
      killAt: fc.oneof(
        { arbitrary: fc.constant(undefined), weight: 8 },
        { arbitrary: fc.constant('outbox.relay.mid-batch' as const), weight: 1 },
        { arbitrary: fc.constant('outbox.relay.after-publish' as const), weight: 1 },
      ),
    },
    { requiredKeys: ['t', 'relay'] },
  ),
  confirm: fc.record({ t: fc.constant('confirm' as const), relay: slot }),
  killRelay: fc.record({ t: fc.constant('killRelay' as const), relay: slot }),
  deliver: fc.record({
    t: fc.constant('deliver' as const),
    max: fc.integer({ min: 1, max: 5 }),
    hold: fc.oneof({ arbitrary: fc.constant(false), weight: 5 }, { arbitrary: fc.constant(true), weight: 1 }),
    crashAfterCommit: fc.oneof(
      { arbitrary: fc.constant(false), weight: 8 },
      { arbitrary: fc.constant(true), weight: 1 },
    ),
  }),
  resume: fc.constant({ t: 'resume' as const }),
  nack: fc.record({ t: fc.constant('nack' as const), pick: fc.nat(7) }),
  killConsumer: fc.record({ t: fc.constant('killConsumer' as const), replica: fc.nat(1) }),
  loseChannel: fc.record({ t: fc.constant('loseChannel' as const), replica: fc.nat(1) }),
  restartConsumer: fc.record({ t: fc.constant('restartConsumer' as const), replica: fc.nat(1) }),
  outage: fc.constant({ t: 'outage' as const }),
  restore: fc.constant({ t: 'restore' as const }),
  duplicate: fc.constant({ t: 'duplicate' as const }),
  dbCrash: fc.record({ t: fc.constant('dbCrash' as const), source: fc.nat(1) }),
  unbind: fc.record({ t: fc.constant('unbind' as const), route: fc.nat(1) }),
  bind: fc.record({ t: fc.constant('bind' as const), route: fc.nat(1) }),
  backoff: fc.constant({ t: 'backoff' as const }),
};

function steps(weights: Partial<Record<StepKind, number>>, maxLength: number): fc.Arbitrary<Step[]> {
  const choices = (Object.keys(weights) as StepKind[])
    .filter((kind) => (weights[kind] ?? 0) > 0)
    .map((kind) => ({ arbitrary: stepArbitraries[kind], weight: weights[kind] ?? 0 }));
  return fc.array(fc.oneof(...choices), { minLength: 30, maxLength, size: 'max' });
}

function scenario(
  stepPlan: fc.Arbitrary<Step[]>,
  replicas = fc.integer({ min: 1, max: 2 }),
): fc.Arbitrary<Scenario> {
  return fc.record({
    sources: fc.integer({ min: 1, max: 2 }),
    relaysPerSource: fc.integer({ min: 1, max: 2 }),
    replicas,
    claimLocks: fc.constantFrom('all-free' as const, 'needed' as const),
    batchSize: fc.integer({ min: 1, max: 5 }),
    prefetch: fc.integer({ min: 1, max: 5 }),
    interleave: fc.boolean(),
    transactions: fc.array(txPlan, { minLength: 1, maxLength: 10 }),
    steps: stepPlan,
    seed: fc.integer(),
  });
}

// --- running ---------------------------------------------------------------------------------------------

function failure(world: OutboxWorld, what: string, problems: string[]): Error {
  const tail = world.trace.slice(-80).join('\n  ');
  return new Error(`${what}:\n  ${problems.join('\n  ')}\n--- trace (last steps)\n  ${tail}`);
}

/** `maxAttempts` high: order is strict and nothing healthy is ever dead-lettered. */
async function run(s: Scenario, maxAttempts: number): Promise<void> {
  const strict = maxAttempts >= 1_000;
  const world = new OutboxWorld(s, maxAttempts);
  for (const step of s.steps) {
    await world.apply(step);
    const problems = world.checkSafety(strict);
    if (problems.length > 0) throw failure(world, `unsafe after step ${JSON.stringify(step)}`, problems);
  }
  await world.heal();
  const problems = [...world.checkSafety(strict), ...world.checkComplete(strict)];
  if (problems.length > 0) throw failure(world, 'not every committed event delivered exactly once', problems);
}

function assertProperty(
  arbitrary: fc.Arbitrary<Scenario>,
  maxAttempts: number,
  numRuns: number,
): Promise<void> {
  const { FC_SEED, FC_PATH } = process.env;
  const replay =
    FC_SEED === undefined
      ? {}
      : { seed: Number(FC_SEED), ...(FC_PATH === undefined ? {} : { path: FC_PATH, endOnFailure: true }) };
  return fc.assert(
    fc.asyncProperty(arbitrary, (s) => run(s, maxAttempts)),
    { numRuns, ...replay },
  );
}

const mixed = {
  begin: 8,
  finish: 8,
  relay: 10,
  confirm: 14,
  killRelay: 2,
  deliver: 18,
  resume: 3,
  nack: 5,
  killConsumer: 2,
  loseChannel: 2,
  restartConsumer: 4,
  outage: 1,
  restore: 4,
  duplicate: 3,
  dbCrash: 1,
  unbind: 1,
  bind: 2,
  backoff: 2,
};

describe('transactional outbox and inbox under random faults (property)', () => {
  it('applies every committed event exactly once and in order per aggregate; nothing of a rolled-back one', async () => {
    await assertProperty(scenario(steps(mixed, 200)), 10_000, 1000);
  }, 120_000);

  it('consumer-heavy: held transactions, channel losses and crashes with two replicas working at once', async () => {
    await assertProperty(
      scenario(
        steps(
          {
            ...mixed,
            deliver: 24,
            resume: 5,
            loseChannel: 5,
            killConsumer: 3,
            restartConsumer: 6,
            outage: 0,
            dbCrash: 0,
          },
          200,
        ),
        fc.constant(2),
      ),
      10_000,
      300,
    );
  }, 120_000);

  it('with production-like patience (few attempts): every committed event applied once or dead-lettered once', async () => {
    await assertProperty(scenario(steps(mixed, 200)), 4, 400);
  }, 120_000);

  it('routing keys without a queue for a while: nothing lost, nothing counted delivered that was not routed', async () => {
    const routing = { ...mixed, unbind: 6, bind: 5, backoff: 6, relay: 14, confirm: 18 };
    await assertProperty(scenario(steps(routing, 200)), 10_000, 300);
    await assertProperty(scenario(steps(routing, 200)), 4, 200);
  }, 120_000);
});
