import amqp, { AmqpConnectionManager } from 'amqp-connection-manager';
import { ConfirmChannel } from 'amqplib';
import { ProtocolLogger, silentLogger } from '../../core/observer';

/** Header names every message carries besides the AMQP properties (message id, type, app id). */
export const MessageHeaders = {
  gtid: 'x-gtid',
  aggregateId: 'x-aggregate-id',
  sequence: 'x-sequence',
  replayed: 'x-replayed',
  deadLetterReason: 'x-dead-letter-reason',
  originalQueue: 'x-original-queue',
  deadLetteredAt: 'x-dead-lettered-at',
  /** W3C trace context (the standard header name, as OpenTelemetry's messaging conventions carry it). */
  traceparent: 'traceparent',
} as const;

/** The dead-letter queue of a consumer's queue. */
export function deadLetterQueue(queue: string): string {
  return `${queue}.dead-letter`;
}

/**
 * One service's connection to RabbitMQ, re-established after the broker restarts. Every exchange and queue
 * name passes through `name()`, so a test or a second hospital on the same broker uses its own namespace.
 */
export class RabbitMqConnection {
  readonly manager: AmqpConnectionManager;

  constructor(
    url: string,
    connectionName: string,
    private readonly namespace = '',
    logger: ProtocolLogger = silentLogger,
  ) {
    this.manager = amqp.connect([url], {
      heartbeatIntervalInSeconds: 5,
      reconnectTimeInSeconds: 1,
      connectionOptions: { clientProperties: { connection_name: connectionName } },
    });
    this.manager.on('disconnect', ({ err }: { err?: Error }) =>
      logger.warn('RabbitMQ connection lost; reconnecting', { error: err?.message }),
    );
    this.manager.on('connect', () => logger.info('RabbitMQ connected'));
  }

  name(exchangeOrQueue: string): string {
    return this.namespace === '' || exchangeOrQueue === ''
      ? exchangeOrQueue
      : `${this.namespace}.${exchangeOrQueue}`;
  }

  get connected(): boolean {
    return this.manager.isConnected();
  }

  /** Runs `work` on a short-lived confirm channel (inspection and replay), closed afterwards. */
  async withChannel<T>(work: (channel: ConfirmChannel) => Promise<T>): Promise<T> {
    if (!this.manager.isConnected()) await this.waitForConnection(10_000);
    const connection = this.manager.connection;
    if (!connection) throw new Error('RabbitMQ is not connected');
    const channel = await connection.createConfirmChannel();
    channel.on('error', () => undefined);
    try {
      return await work(channel);
    } finally {
      await channel.close().catch(() => undefined);
    }
  }

  /** Resolves once connected; rejects after `timeoutMs` (the broker is down or unreachable). */
  waitForConnection(timeoutMs: number): Promise<void> {
    if (this.manager.isConnected()) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const onConnect = (): void => {
        clearTimeout(timer);
        resolve();
      };
      const timer = setTimeout(() => {
        this.manager.off('connect', onConnect);
        reject(new Error(`RabbitMQ is not connected (waited ${timeoutMs} ms)`));
      }, timeoutMs);
      this.manager.once('connect', onConnect);
    });
  }

  async close(): Promise<void> {
    await this.manager.close();
  }
}

/** Arguments of every consumer queue: quorum, one active consumer at a time (order), broker-side give-up. */
export function queueArguments(deadLetters: string, deliveryLimit: number): Record<string, unknown> {
  return {
    'x-queue-type': 'quorum',
    'x-single-active-consumer': true,
    'x-delivery-limit': deliveryLimit,
    'x-dead-letter-exchange': '',
    'x-dead-letter-routing-key': deadLetters,
  };
}
