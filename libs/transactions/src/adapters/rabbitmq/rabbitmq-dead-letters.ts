import { ConfirmChannel, GetMessage } from 'amqplib';
import { deadLetterQueue, MessageHeaders, RabbitMqConnection } from './rabbitmq-connection';

/** A dead letter as an operator sees it: ids and the reason, never the payload (it may hold patient data). */
export interface DeadLetterView {
  messageId: string | null;
  type: string | null;
  gtid: string | null;
  reason: string;
  deadLetteredAt: string | null;
  deliveries: number | null;
}

function describe(message: GetMessage): DeadLetterView {
  const headers = message.properties.headers ?? {};
  const text = (value: unknown): string | null => (typeof value === 'string' ? value : null);
  // The broker's own dead-lettering (delivery limit) leaves x-death instead of our reason header.
  const death = Array.isArray(headers['x-death'])
    ? (headers['x-death'] as { reason?: unknown }[])[0]
    : undefined;
  return {
    messageId: text(message.properties.messageId),
    type: text(message.properties.type),
    gtid: text(headers[MessageHeaders.gtid]),
    reason:
      text(headers[MessageHeaders.deadLetterReason]) ??
      (death ? `broker: ${String(death.reason)} (delivery limit reached)` : 'unknown'),
    deadLetteredAt: text(headers[MessageHeaders.deadLetteredAt]),
    deliveries: typeof headers['x-delivery-count'] === 'number' ? headers['x-delivery-count'] : null,
  };
}

async function take(channel: ConfirmChannel, queue: string, limit: number): Promise<GetMessage[]> {
  const taken: GetMessage[] = [];
  while (taken.length < limit) {
    const message = await channel.get(queue, { noAck: false });
    if (message === false) break;
    taken.push(message);
  }
  return taken;
}

/** Inspection and replay of a consumer's dead-letter queue. */
export class RabbitMqDeadLetters {
  constructor(private readonly connection: RabbitMqConnection) {}

  /** How many messages wait in the dead-letter queue of `queue`. */
  async depth(queue: string): Promise<number> {
    return this.connection.withChannel(async (channel) => {
      const info = await channel.checkQueue(deadLetterQueue(this.connection.name(queue)));
      return info.messageCount;
    });
  }

  /** Up to `limit` dead letters of `queue`, left in place (they are handed back when the channel closes). */
  async list(queue: string, limit: number): Promise<DeadLetterView[]> {
    return this.connection.withChannel(async (channel) =>
      (await take(channel, deadLetterQueue(this.connection.name(queue)), limit)).map(describe),
    );
  }

  /**
   * Moves up to `limit` dead letters back to `queue`, marked as replayed so the inbox applies them even
   * though it recorded them as rejected. Each is confirmed on the queue before it leaves the dead-letter queue.
   */
  async replay(queue: string, limit: number): Promise<number> {
    const target = this.connection.name(queue);
    return this.connection.withChannel(async (channel) => {
      const taken = await take(channel, deadLetterQueue(target), limit);
      for (const message of taken) {
        const headers: Record<string, unknown> = { ...(message.properties.headers ?? {}) };
        delete headers[MessageHeaders.deadLetterReason];
        delete headers[MessageHeaders.deadLetteredAt];
        delete headers[MessageHeaders.originalQueue];
        delete headers['x-death'];
        delete headers['x-delivery-count'];
        headers[MessageHeaders.replayed] = true;
        channel.sendToQueue(target, message.content, { ...message.properties, headers, persistent: true });
      }
      await channel.waitForConfirms();
      for (const message of taken) channel.ack(message);
      return taken.length;
    });
  }
}
