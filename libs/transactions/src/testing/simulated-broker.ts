import {
  InboundMessage,
  MessagePublisher,
  OutboundMessage,
  UnroutableMessagesError,
} from '../ports/messaging.ports';

/** A message in the queue: `deliveries` is how often the broker delivered it before. */
interface Queued {
  readonly tag: number;
  readonly message: OutboundMessage;
  deliveries: number;
}

/** A delivery to a consumer channel, unacknowledged until acked, nacked or its channel closes. */
export interface BrokerDelivery {
  readonly tag: number;
  readonly channel: BrokerChannel;
  readonly message: InboundMessage;
  readonly queued: Queued;
}

/** A consumer channel: deliveries it holds unacknowledged, in delivery order. */
export class BrokerChannel {
  open = true;
  readonly unacked: BrokerDelivery[] = [];

  constructor(readonly name: string) {}
}

/** A publish waiting for the broker's confirm. */
export interface InFlightPublish {
  readonly owner: string;
  readonly messages: readonly OutboundMessage[];
  resolve(): void;
  reject(error: Error): void;
}

export interface SimulatedBrokerOptions {
  /** Draws every choice the broker makes (interleaving, half-published prefixes, requeue position). */
  random: () => number;
  /** Deliver the heads of different ordering streams in any order (never reorders within one stream). */
  interleave?: boolean;
}

/** The broker is down, or the channel closed. */
export class BrokerUnavailableError extends Error {}

const keyOf = (m: OutboundMessage): string => `${m.source}|${m.aggregateId ?? m.id}`;

/**
 * A RabbitMQ stand-in with one durable queue and its dead-letter queue. The queue is bound to every
 * routing key except those `unbind` took away: a message published to one of those reaches no queue, and
 * the broker returns it (mandatory) and confirms the rest of the publish, which then rejects with
 * `UnroutableMessagesError` as `RabbitMqPublisher` does; a returned message is not enqueued anywhere. Publishes are in flight until the test confirms them (enqueued, then confirmed); a publisher dying
 * or a broker outage leaves any prefix of an in-flight publish enqueued. Consumers attach channels; the queue
 * delivers to the first open one (single active consumer), FIFO per ordering stream (`source|aggregateId`)
 * with streams interleaved at random. Closing a channel (consumer crash, connection loss, outage) returns its
 * unacknowledged deliveries to the front of the queue in their delivery order; a nack requeues at the front
 * or the back. Redeliveries count in `deliveryCount`. `duplicate` republishes a message seen before.
 */
export class SimulatedBroker {
  up = true;
  readonly queue: Queued[] = [];
  /** Dead-lettered messages, with the reason, in arrival order. */
  readonly deadLetters: { message: InboundMessage; reason: string }[] = [];
  /** Every message ever enqueued (copies included), in order. */
  readonly history: OutboundMessage[] = [];
  private readonly inFlight: InFlightPublish[] = [];
  private readonly channels: BrokerChannel[] = [];
  private readonly deliveryCounts = new Map<string, number>();
  /** How many times publishers (not `duplicate`) had each message id enqueued. */
  readonly publishedCount = new Map<string, number>();
  /** How many times each message id was returned as routed to no queue. */
  readonly returnedCount = new Map<string, number>();
  /** Routing keys no queue is bound to (for now). */
  private readonly unbound = new Set<string>();
  private nextTag = 1;

  constructor(private readonly options: SimulatedBrokerOptions) {}

  private get random(): () => number {
    return this.options.random;
  }

  private pick(n: number): number {
    return Math.min(n - 1, Math.floor(this.random() * n));
  }

  private enqueue(message: OutboundMessage): void {
    const copy: OutboundMessage = {
      ...message,
      payload: JSON.parse(JSON.stringify(message.payload)) as unknown,
    };
    this.queue.push({ tag: this.nextTag++, message: copy, deliveries: 0 });
    this.history.push(copy);
  }

  /** Enqueues a published message if its routing key is bound; false when it was returned instead. */
  private enqueuePublished(message: OutboundMessage): boolean {
    if (this.unbound.has(message.routingKey)) {
      this.returnedCount.set(message.id, (this.returnedCount.get(message.id) ?? 0) + 1);
      return false;
    }
    this.publishedCount.set(message.id, (this.publishedCount.get(message.id) ?? 0) + 1);
    this.enqueue(message);
    return true;
  }

  /** The queue's binding for `routingKey` goes away: messages published to it reach no queue. */
  unbind(routingKey: string): void {
    this.unbound.add(routingKey);
  }

  /** The queue is bound to `routingKey` (again). */
  bind(routingKey: string): void {
    this.unbound.delete(routingKey);
  }

  /** Whether any message was ever returned as routed to no queue. */
  get returnedAny(): boolean {
    return this.returnedCount.size > 0;
  }

  /** A publisher (one relay's confirm channel); its publishes wait for `confirm`. */
  publisher(owner: string): MessagePublisher {
    return {
      publish: (messages) => {
        if (!this.up) return Promise.reject(new BrokerUnavailableError('broker unreachable'));
        if (messages.length === 0) return Promise.resolve();
        return new Promise<void>((resolve, reject) => {
          this.inFlight.push({ owner, messages: [...messages], resolve, reject });
        });
      },
    };
  }

  inFlightOf(owner: string): InFlightPublish[] {
    return this.inFlight.filter((p) => p.owner === owner);
  }

  /** The broker takes the owner's oldest in-flight publish and confirms it; false when there is none. */
  confirm(owner: string): boolean {
    const index = this.inFlight.findIndex((p) => p.owner === owner);
    if (index < 0 || !this.up) return false;
    const [publish] = this.inFlight.splice(index, 1);
    const unrouted = publish.messages
      .filter((message) => !this.enqueuePublished(message))
      .map((message) => ({ id: message.id, reason: `NO_ROUTE: no queue bound for '${message.routingKey}'` }));
    if (unrouted.length > 0) publish.reject(new UnroutableMessagesError(unrouted));
    else publish.resolve();
    return true;
  }

  /** Enqueues a random prefix of each in-flight publish of `owner` (all owners when undefined) and forgets them. */
  private cutInFlight(owner: string | undefined, settle: (p: InFlightPublish) => void): void {
    for (const publish of this.inFlight.filter((p) => owner === undefined || p.owner === owner)) {
      const kept = this.pick(publish.messages.length + 1);
      for (const message of publish.messages.slice(0, kept)) this.enqueuePublished(message);
      this.inFlight.splice(this.inFlight.indexOf(publish), 1);
      settle(publish);
    }
  }

  /** The publishing process died: part of what it had in flight may have reached the queue; nobody is told. */
  dropPublisher(owner: string): void {
    this.cutInFlight(owner, () => undefined);
  }

  /** The broker goes down: in-flight publishes are cut short and rejected, consumer channels close. */
  outage(): void {
    if (!this.up) return;
    this.up = false;
    this.cutInFlight(undefined, (p) => p.reject(new BrokerUnavailableError('connection to the broker lost')));
    for (const channel of [...this.channels]) this.close(channel);
  }

  restore(): void {
    this.up = true;
  }

  /** A consumer attaches a channel; it receives deliveries while it is the first open channel. */
  attach(name: string): BrokerChannel {
    if (!this.up) throw new BrokerUnavailableError('broker unreachable');
    const channel = new BrokerChannel(name);
    this.channels.push(channel);
    return channel;
  }

  /** The channel the queue delivers to (single active consumer). */
  active(): BrokerChannel | undefined {
    return this.up ? this.channels.find((c) => c.open) : undefined;
  }

  /** Hands up to `max` messages to `channel` if it is the active one. */
  deliver(channel: BrokerChannel, max: number): BrokerDelivery[] {
    if (this.active() !== channel) return [];
    const batch: BrokerDelivery[] = [];
    while (batch.length < max && this.queue.length > 0) {
      let index = 0;
      if (this.options.interleave && this.random() < 0.5) {
        const heads: number[] = [];
        const keys = new Set<string>();
        this.queue.forEach((q, i) => {
          const key = keyOf(q.message);
          if (!keys.has(key)) {
            keys.add(key);
            heads.push(i);
          }
        });
        index = heads[this.pick(heads.length)];
      }
      const [queued] = this.queue.splice(index, 1);
      const m = queued.message;
      const delivery: BrokerDelivery = {
        tag: queued.tag,
        channel,
        queued,
        message: {
          id: m.id,
          type: m.type,
          gtid: m.gtid,
          source: m.source,
          aggregateId: m.aggregateId,
          sequence: m.sequence,
          payload: JSON.parse(JSON.stringify(m.payload)) as unknown,
          deliveryCount: queued.deliveries,
          replayed: false,
        },
      };
      channel.unacked.push(delivery);
      batch.push(delivery);
      this.deliveryCounts.set(m.id, Math.max(this.deliveryCounts.get(m.id) ?? 0, queued.deliveries));
    }
    return batch;
  }

  private settle(delivery: BrokerDelivery): void {
    const { channel } = delivery;
    if (!channel.open || !this.up) throw new BrokerUnavailableError('channel closed');
    const index = channel.unacked.indexOf(delivery);
    if (index < 0) throw new BrokerUnavailableError('unknown delivery tag');
    channel.unacked.splice(index, 1);
  }

  ack(delivery: BrokerDelivery): void {
    this.settle(delivery);
  }

  /** Requeues the delivery (at the front or the back) for redelivery. */
  nack(delivery: BrokerDelivery): void {
    this.settle(delivery);
    delivery.queued.deliveries += 1;
    if (this.random() < 0.5) this.queue.unshift(delivery.queued);
    else this.queue.push(delivery.queued);
  }

  /** Publishes the delivery to the dead-letter queue (confirmed); rejects when the broker or channel is gone. */
  deadLetter(delivery: BrokerDelivery, reason: string): Promise<void> {
    if (!this.up || !delivery.channel.open)
      return Promise.reject(new BrokerUnavailableError('dead-letter publish refused'));
    this.deadLetters.push({ message: { ...delivery.message }, reason });
    return Promise.resolve();
  }

  /** The channel closes: its unacknowledged deliveries go back to the front of the queue, in order. */
  close(channel: BrokerChannel): void {
    if (!channel.open) return;
    channel.open = false;
    const returned = channel.unacked.splice(0);
    for (const delivery of returned) delivery.queued.deliveries += 1;
    this.queue.unshift(...returned.map((d) => d.queued));
    this.channels.splice(this.channels.indexOf(channel), 1);
  }

  /** Publishes again a message enqueued before (a duplicate from the network or a producer); false if none. */
  duplicate(): boolean {
    if (this.history.length === 0 || !this.up) return false;
    this.enqueue(this.history[this.pick(this.history.length)]);
    return true;
  }

  /** The highest `deliveryCount` any copy of message `id` was delivered with. */
  maxDeliveryCount(id: string): number | undefined {
    return this.deliveryCounts.get(id);
  }

  /** Nothing queued, in flight or unacknowledged. */
  get quiet(): boolean {
    return (
      this.queue.length === 0 &&
      this.inFlight.length === 0 &&
      this.channels.every((c) => c.unacked.length === 0)
    );
  }
}
