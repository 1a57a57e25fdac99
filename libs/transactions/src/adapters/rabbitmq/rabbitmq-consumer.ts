import { ChannelWrapper } from 'amqp-connection-manager';
import { ConfirmChannel, ConsumeMessage } from 'amqplib';
import { context } from '@opentelemetry/api';
import { startConsumerSpan } from '@hospital/platform';
import { errorMessage, ProtocolLogger, silentLogger } from '../../core/observer';
import { Disposition, InboundMessage } from '../../ports/messaging.ports';
import { deadLetterQueue, MessageHeaders, queueArguments, RabbitMqConnection } from './rabbitmq-connection';

export interface RabbitMqConsumerOptions {
  /** Queue name (before the connection's namespace) and the inbox's consumer name. */
  queue: string;
  bindings: readonly { exchange: string; routingKey: string }[];
  /** Deliveries held unacknowledged at once; also the largest batch handed to `process`. */
  prefetch: number;
  /** The broker dead-letters a message redelivered this many times (a message that keeps killing the consumer). */
  deliveryLimit: number;
  /** Wait before a message to retry is handed back to the broker; doubled with each delivery, up to 30 s. */
  retryDelayMs: number;
}

export interface ConsumerObserver {
  settled(queue: string, disposition: Disposition['kind']): void;
}

interface Delivery {
  channel: ConfirmChannel;
  raw: ConsumeMessage;
}

type Decoded = { ok: true; message: InboundMessage } | { ok: false; reason: string };

function header(raw: ConsumeMessage, name: string): unknown {
  return (raw.properties.headers ?? {})[name];
}

/** Reads a delivery into an InboundMessage; a delivery without an id or with a body that is not JSON is refused. */
export function decodeDelivery(raw: ConsumeMessage): Decoded {
  const { messageId, type } = raw.properties as { messageId?: unknown; type?: unknown };
  if (typeof messageId !== 'string' || messageId === '')
    return { ok: false, reason: 'message has no message id' };
  if (typeof type !== 'string' || type === '') return { ok: false, reason: 'message has no type' };
  let payload: unknown;
  try {
    payload = JSON.parse(raw.content.toString('utf8'));
  } catch {
    return { ok: false, reason: `${type}: body is not JSON` };
  }
  const gtid = header(raw, MessageHeaders.gtid);
  const aggregateId = header(raw, MessageHeaders.aggregateId);
  const sequence = header(raw, MessageHeaders.sequence);
  const deliveryCount = header(raw, 'x-delivery-count');
  const traceparent = header(raw, MessageHeaders.traceparent);
  const source = (raw.properties as { appId?: unknown }).appId;
  return {
    ok: true,
    message: {
      id: messageId,
      type,
      gtid: typeof gtid === 'string' ? gtid : messageId,
      source: typeof source === 'string' ? source : undefined,
      aggregateId: typeof aggregateId === 'string' ? aggregateId : undefined,
      sequence:
        typeof sequence === 'number' && Number.isInteger(sequence) && sequence > 0 ? sequence : undefined,
      payload,
      deliveryCount: typeof deliveryCount === 'number' ? deliveryCount : raw.fields.redelivered ? 1 : 0,
      replayed: header(raw, MessageHeaders.replayed) === true,
      ...(typeof traceparent === 'string' ? { traceparent } : {}),
    },
  };
}

/**
 * Consumes one durable quorum queue (single active consumer, so replicas fail over without breaking
 * order) and hands what has arrived to `process` in batches, one batch at a time. It carries out the
 * decisions: acknowledge, move to the dead-letter queue with the reason (confirmed before the ack), or
 * hand back for redelivery. After a reconnect, unacknowledged deliveries come again and the inbox sorts
 * them out.
 */
export class RabbitMqConsumer {
  private channel?: ChannelWrapper;
  private buffer: Delivery[] = [];
  private draining?: Promise<void>;
  private stopped = false;

  constructor(
    private readonly connection: RabbitMqConnection,
    private readonly options: RabbitMqConsumerOptions,
    private readonly process: (batch: readonly InboundMessage[]) => Promise<Disposition[]>,
    private readonly observer: ConsumerObserver,
    private readonly logger: ProtocolLogger = silentLogger,
  ) {}

  get queue(): string {
    return this.connection.name(this.options.queue);
  }

  /** Declares the queue, its dead-letter queue and bindings, and starts consuming. */
  async start(): Promise<void> {
    const queue = this.queue;
    const deadLetters = deadLetterQueue(queue);
    this.channel = this.connection.manager.createChannel({
      confirm: true,
      json: false,
      setup: async (channel: ConfirmChannel) => {
        await channel.assertQueue(deadLetters, { durable: true, arguments: { 'x-queue-type': 'quorum' } });
        await channel.assertQueue(queue, {
          durable: true,
          arguments: queueArguments(deadLetters, this.options.deliveryLimit),
        });
        for (const binding of this.options.bindings) {
          const exchange = this.connection.name(binding.exchange);
          await channel.assertExchange(exchange, 'topic', { durable: true });
          await channel.bindQueue(queue, exchange, binding.routingKey);
        }
        await channel.prefetch(this.options.prefetch);
        await channel.consume(queue, (raw) => {
          if (raw) this.receive({ channel, raw });
        });
      },
    });
    await this.channel.waitForConnect();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.channel?.close().catch(() => undefined);
    await this.draining;
  }

  private receive(delivery: Delivery): void {
    this.buffer.push(delivery);
    this.draining ??= this.drain().finally(() => {
      this.draining = undefined;
    });
  }

  private async drain(): Promise<void> {
    // Let deliveries that arrive together form one batch.
    await new Promise((resolve) => setImmediate(resolve));
    while (this.buffer.length > 0 && !this.stopped) {
      const batch = this.buffer.splice(0, this.options.prefetch);
      try {
        await this.handle(batch);
      } catch (error) {
        // Leave them unacknowledged: the broker redelivers them after a reconnect.
        this.logger.error('consumer batch failed', { queue: this.queue, error: errorMessage(error) });
      }
    }
  }

  private async handle(batch: Delivery[]): Promise<void> {
    const decoded = batch.map((d) => decodeDelivery(d.raw));
    const valid = decoded.flatMap((d) => (d.ok ? [d.message] : []));
    // A span per message, in the trace of the request that wrote it. A batch of one is handled in its
    // span's context, so what the handler writes or calls carries the trace on; a batch of several is
    // handled once for all, in none of theirs.
    const spans = valid.map((message) => startConsumerSpan(this.options.queue, message));
    let decisions: Disposition[];
    try {
      decisions =
        spans.length === 1
          ? await context.with(spans[0].context, () => this.process(valid))
          : await this.process(valid);
    } catch (error) {
      for (const span of spans) span.end('failed', true);
      throw error;
    }
    let next = 0;
    const settled = decoded.map((d): Disposition =>
      d.ok ? decisions[next++] : { kind: 'dead-letter', reason: d.reason },
    );
    const outcomes = settled.filter((_, index) => decoded[index].ok).map((d) => d.kind);
    try {
      for (const [index, delivery] of batch.entries()) {
        const attempt = decoded[index].ok ? decoded[index].message.deliveryCount : 0;
        await this.settle(delivery, settled[index], attempt);
        this.observer.settled(this.options.queue, settled[index].kind);
      }
    } finally {
      spans.forEach((span, index) => span.end(outcomes[index], outcomes[index] === 'dead-letter'));
    }
  }

  private async settle(delivery: Delivery, disposition: Disposition, attempt: number): Promise<void> {
    const { channel, raw } = delivery;
    try {
      switch (disposition.kind) {
        case 'applied':
        case 'duplicate':
          channel.ack(raw);
          return;
        case 'dead-letter':
          try {
            await this.deadLetter(delivery, disposition.reason);
          } catch (error) {
            // Not moved: hand it back, so it is decided (and dead-lettered) again on redelivery.
            this.logger.warn('could not move a delivery to the dead-letter queue', {
              queue: this.queue,
              error: errorMessage(error),
            });
            channel.nack(raw, false, true);
            return;
          }
          channel.ack(raw);
          return;
        case 'retry': {
          const timer = setTimeout(
            () => {
              try {
                channel.nack(raw, false, true);
              } catch {
                // The channel is gone; the broker redelivers anyway.
              }
            },
            Math.min(30_000, this.options.retryDelayMs * 2 ** Math.min(attempt, 10)),
          );
          timer.unref();
          return;
        }
      }
    } catch (error) {
      // A closed channel: the delivery is redelivered on the next one.
      this.logger.warn('could not settle a delivery', { queue: this.queue, error: errorMessage(error) });
    }
  }

  private deadLetter({ channel, raw }: Delivery, reason: string): Promise<void> {
    return new Promise((resolve, reject) => {
      channel.sendToQueue(
        deadLetterQueue(this.queue),
        raw.content,
        {
          ...raw.properties,
          persistent: true,
          headers: {
            ...(raw.properties.headers ?? {}),
            [MessageHeaders.deadLetterReason]: reason,
            [MessageHeaders.originalQueue]: this.options.queue,
            [MessageHeaders.deadLetteredAt]: new Date().toISOString(),
          },
        },
        (error: unknown) =>
          error ? reject(new Error(`dead-letter publish refused: ${errorMessage(error)}`)) : resolve(),
      );
    });
  }
}
