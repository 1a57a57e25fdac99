import {
  DynamicModule,
  Inject,
  Injectable,
  Module,
  OnApplicationBootstrap,
  OnApplicationShutdown,
} from '@nestjs/common';
import {
  AUDIT_SINK,
  ReadinessChecks,
  SERVICE_CONFIG,
  type AuditRecord,
  type AuditSink,
  type ServiceConfig,
} from '@hospital/platform';
import { newGtid } from '../core/gtid';
import type { MessagePublisher, OutboundMessage } from '../ports/messaging.ports';
import { RabbitMqConnection } from '../adapters/rabbitmq/rabbitmq-connection';
import { RabbitMqPublisher } from '../adapters/rabbitmq/rabbitmq-publisher';
import { AUDIT_AGGREGATE, auditEvent } from './audit-trail.sink';
import { rabbitMqConnectionProvider } from './rabbitmq-connection.provider';

/** The broker message of one audit record, as the outbox relay would send it for `source`. */
export function auditMessage(record: AuditRecord, source: string): OutboundMessage {
  const event = auditEvent(record);
  return {
    id: record.id,
    exchange: event.exchange,
    routingKey: event.routingKey,
    type: event.type,
    source,
    gtid: record.gtid ?? newGtid(),
    payload: record,
    aggregateId: AUDIT_AGGREGATE,
  };
}

/**
 * The audit sink of a service without a database (the gateway): publishes each record straight to the
 * audit exchange (`hospital.audit`) with publisher confirms, and resolves only once the broker confirmed
 * them, so a record is in the audit service's durable queue before the answer it describes leaves, even
 * while the audit service is down. The messages are those the outbox relay sends (same id, type, routing
 * key and payload), so the audit service stores each record once. A publish that fails rejects; the caller
 * (the access guard) logs the failure without the record, which names a patient.
 */
export class BrokerAuditSink implements AuditSink {
  constructor(
    private readonly publisher: MessagePublisher,
    private readonly source: string,
  ) {}

  async record(records: readonly AuditRecord[]): Promise<void> {
    if (records.length === 0) return;
    await this.publisher.publish(records.map((record) => auditMessage(record, this.source)));
  }
}

const BROKER_PUBLISHER = Symbol('AUDIT_BROKER_PUBLISHER');

/**
 * How long a record may wait for the broker's confirm. While the broker is unreachable each refusal is
 * held this long before it is answered (and its audit failure logged): short, so a broker outage does not
 * leave clients hanging on the front door.
 */
export const BROKER_AUDIT_PUBLISH_TIMEOUT_MS = 2_000;

/** Reports the broker in `/health/ready` and closes the channel and connection at shutdown. */
@Injectable()
class BrokerAuditLifecycle implements OnApplicationBootstrap, OnApplicationShutdown {
  constructor(
    @Inject(RabbitMqConnection) private readonly connection: RabbitMqConnection,
    @Inject(BROKER_PUBLISHER) private readonly publisher: RabbitMqPublisher,
    @Inject(ReadinessChecks) private readonly readiness: ReadinessChecks,
  ) {}

  onApplicationBootstrap(): void {
    this.readiness.add({
      name: 'rabbitmq',
      check: () =>
        this.connection.connected
          ? Promise.resolve()
          : Promise.reject(new Error('not connected to RabbitMQ')),
    });
  }

  async onApplicationShutdown(): Promise<void> {
    await this.publisher.close().catch(() => undefined);
    await this.connection.close().catch(() => undefined);
  }
}

/**
 * `AUDIT_SINK` for a service that owns no database: `BrokerAuditSink` over a RabbitMQ connection of its
 * own (AMQP_URL, MESSAGING_NAMESPACE of `MessagingEnvironment`, which the service's config must include).
 * A service with a database imports `AuditTrailModule` instead (its outbox keeps records while the broker
 * is down too).
 */
@Module({})
export class BrokerAuditModule {
  static forRoot(): DynamicModule {
    return {
      module: BrokerAuditModule,
      global: true,
      providers: [
        rabbitMqConnectionProvider,
        {
          provide: BROKER_PUBLISHER,
          inject: [RabbitMqConnection],
          useFactory: (connection: RabbitMqConnection) =>
            new RabbitMqPublisher(connection, BROKER_AUDIT_PUBLISH_TIMEOUT_MS),
        },
        {
          provide: AUDIT_SINK,
          inject: [BROKER_PUBLISHER, SERVICE_CONFIG],
          useFactory: (publisher: MessagePublisher, config: ServiceConfig) =>
            new BrokerAuditSink(publisher, config.service.name),
        },
        BrokerAuditLifecycle,
      ],
      exports: [AUDIT_SINK],
    };
  }
}
