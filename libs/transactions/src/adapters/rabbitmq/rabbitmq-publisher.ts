import { ChannelWrapper } from 'amqp-connection-manager';
import { ConfirmChannel, ConsumeMessage } from 'amqplib';
import {
  MessagePublisher,
  OutboundMessage,
  UnroutableMessagesError,
  UnroutedMessage,
} from '../../ports/messaging.ports';
import { MessageHeaders, RabbitMqConnection } from './rabbitmq-connection';

/**
 * Publishes on one confirm channel: a call resolves when the broker has confirmed every message (persisted
 * to the quorum queues it routes to) and rejects if any is refused or the channel drops. Messages are
 * persistent and carry their id, type, source, gtid and ordering key.
 *
 * Every message is published `mandatory`: one that no queue is bound to receive is returned by the broker
 * (`basic.return`) and then confirmed all the same. The broker sends the return before the confirm on the
 * same channel, so when a message's confirm arrives its return, if any, has been seen: the publish then
 * rejects with `UnroutableMessagesError` naming those messages (the others were confirmed and routed).
 */
export class RabbitMqPublisher implements MessagePublisher {
  private readonly channel: ChannelWrapper;
  private readonly exchanges = new Set<string>();
  /** Returns not yet matched with their confirm: message id → reasons, oldest first. */
  private readonly returned = new Map<string, string[]>();

  constructor(
    private readonly connection: RabbitMqConnection,
    private readonly publishTimeoutMs = 10_000,
  ) {
    this.channel = connection.manager.createChannel({
      confirm: true,
      json: false,
      publishTimeout: publishTimeoutMs,
      setup: async (channel: ConfirmChannel) => {
        // A new channel: returns seen on the old one belong to publishes that were rejected with it.
        this.returned.clear();
        channel.on('return', (message: ConsumeMessage) => this.noteReturn(message));
        for (const exchange of this.exchanges)
          await channel.assertExchange(exchange, 'topic', { durable: true });
      },
    });
  }

  private noteReturn(message: ConsumeMessage): void {
    const id: unknown = message.properties.messageId;
    if (typeof id !== 'string') return;
    const { exchange, routingKey, replyText } = message.fields as unknown as {
      exchange: string;
      routingKey: string;
      replyText?: string;
    };
    const reasons = this.returned.get(id) ?? [];
    reasons.push(`${replyText ?? 'NO_ROUTE'}: no queue bound to exchange '${exchange}' for '${routingKey}'`);
    this.returned.set(id, reasons);
  }

  /** The return of message `id` that came before its confirm, if any (consumed). */
  private takeReturn(id: string): string | undefined {
    const reasons = this.returned.get(id);
    if (!reasons) return undefined;
    const reason = reasons.shift();
    if (reasons.length === 0) this.returned.delete(id);
    return reason;
  }

  async publish(messages: readonly OutboundMessage[]): Promise<void> {
    for (const message of messages) {
      const exchange = this.connection.name(message.exchange);
      if (this.exchanges.has(exchange)) continue;
      await this.channel.addSetup((channel: ConfirmChannel) =>
        channel.assertExchange(exchange, 'topic', { durable: true }),
      );
      this.exchanges.add(exchange);
    }
    const unrouted: UnroutedMessage[] = [];
    await Promise.all(
      messages.map(async (message) => {
        await this.channel.publish(
          this.connection.name(message.exchange),
          message.routingKey,
          Buffer.from(JSON.stringify(message.payload)),
          {
            persistent: true,
            mandatory: true,
            messageId: message.id,
            type: message.type,
            appId: message.source,
            contentType: 'application/json',
            timestamp: Math.floor(Date.now() / 1000),
            timeout: this.publishTimeoutMs,
            headers: {
              [MessageHeaders.gtid]: message.gtid,
              ...(message.aggregateId === undefined
                ? {}
                : { [MessageHeaders.aggregateId]: message.aggregateId }),
              ...(message.sequence === undefined ? {} : { [MessageHeaders.sequence]: message.sequence }),
              ...(message.traceparent === undefined
                ? {}
                : { [MessageHeaders.traceparent]: message.traceparent }),
            },
          },
        );
        const reason = this.takeReturn(message.id);
        if (reason !== undefined) unrouted.push({ id: message.id, reason });
      }),
    );
    if (unrouted.length > 0) {
      // In publish order, whatever order the confirms resolved in.
      const order = new Map(messages.map((m, index) => [m.id, index]));
      unrouted.sort((a, b) => (order.get(a.id) ?? 0) - (order.get(b.id) ?? 0));
      throw new UnroutableMessagesError(unrouted);
    }
  }

  async close(): Promise<void> {
    await this.channel.close();
  }
}
