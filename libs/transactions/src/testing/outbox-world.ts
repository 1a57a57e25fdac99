// The world of the outbox / inbox property spec (outbox/outbox.property.spec.ts): the real `OutboxRelay` and
// `InboxConsumer` over the in-memory outbox, inbox and broker, driven step by step by a random schedule,
// with producers, relays and consumer replicas that crash, lose their channel or their database.
// Its oracle is outbox-oracle.ts.
import { Disposition, NewOutboxEvent } from '../ports/messaging.ports';
import { InboxConsumer, MessageHandler, RejectedMessageError } from '../outbox/inbox-consumer';
import { OutboxRelay } from '../outbox/outbox-relay';
import { MemorySession, MemoryTransactionRunner } from './memory-session';
import { InMemoryInbox, InMemoryOutboxStore, MemoryEffectLog, OutboxConnection } from './outbox-memory';
import {
  AGGREGATES,
  CONSUMER,
  EventPlan,
  RelayKillPoint,
  ROUTES,
  Scenario,
  SOURCES,
  Step,
  TxPlan,
} from './outbox-scenario';
import { seededRandom } from './seeded-random';
import { BrokerChannel, BrokerDelivery, SimulatedBroker } from './simulated-broker';

class Crash extends Error {}
class Rollback extends Error {}

const flush = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

export interface ProducerTx {
  index: number;
  store: InMemoryOutboxStore;
  plan: TxPlan;
  events: NewOutboxEvent[];
  state: 'appending' | 'appended' | 'committed' | 'failed';
  finish?: () => void;
}

export interface RelayIncarnation {
  slot: number;
  store: InMemoryOutboxStore;
  owner: string;
  connection: OutboxConnection;
  relay: OutboxRelay;
  busy: boolean;
  killAt?: RelayKillPoint;
}

export interface Replica {
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

export class OutboxWorld {
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
  /** The planned events, by message id (`t<transaction>.<event>`). */
  readonly plans = new Map<string, EventPlan>();
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
}
