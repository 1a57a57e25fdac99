import { ChannelWrapper } from 'amqp-connection-manager';
import { ConfirmChannel } from 'amqplib';
import { MessagePublisher, OutboundMessage } from '../../ports/messaging.ports';
import { MessageHeaders, RabbitMqConnection } from './rabbitmq-connection';

/**
 * Publishes on one confirm channel: a call resolves when the broker has confirmed every message (persisted
 * to the quorum queues it routes to) and rejects if any is refused or the channel drops. Messages are
 * persistent and carry their id, type, source, gtid and ordering key.
 */
export class RabbitMqPublisher implements MessagePublisher {
  private readonly channel: ChannelWrapper;
  private readonly exchanges = new Set<string>();

  constructor(
    private readonly connection: RabbitMqConnection,
    private readonly publishTimeoutMs = 10_000,
  ) {
    this.channel = connection.manager.createChannel({
      confirm: true,
      json: false,
      publishTimeout: publishTimeoutMs,
      setup: async (channel: ConfirmChannel) => {
        for (const exchange of this.exchanges)
          await channel.assertExchange(exchange, 'topic', { durable: true });
      },
    });
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
    await Promise.all(
      messages.map((message) =>
        this.channel.publish(
          this.connection.name(message.exchange),
          message.routingKey,
          Buffer.from(JSON.stringify(message.payload)),
          {
            persistent: true,
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
            },
          },
        ),
      ),
    );
  }

  async close(): Promise<void> {
    await this.channel.close();
  }
}
