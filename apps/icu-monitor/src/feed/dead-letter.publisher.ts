import { randomUUID } from 'node:crypto';
import { Inject, Injectable, OnModuleDestroy } from '@nestjs/common';
import { connect, type MqttClient } from 'mqtt';
import type { Logger } from 'pino';
import { Counter } from 'prom-client';
import {
  environmentOf,
  MetricsRegistry,
  ROOT_LOGGER,
  SERVICE_CONFIG,
  type ServiceConfig,
} from '@hospital/platform';
import { MqttFeedEnvironment } from './feed.environment';
import { deadLetterTopic } from './feed-topics';

/** What `<prefix>/dead-letter` carries for each refused message. */
export interface DeadLetter {
  /** The topic the message came on. */
  topic: string;
  /** A `VitalErrorCode`, a `FeedErrorCode`, or a FHIR validation code (`invalid`…). */
  reason: string;
  /** The message as received (UTF-8), whatever it held. */
  payload: string;
  deadLetteredAt: string;
}

/**
 * Publishes refused feed messages to `<prefix>/dead-letter` with QoS 1 and counts them by reason
 * (`icu_feed_dead_letters_total`). Its own MQTT connection: the feed's client handles incoming packets
 * one at a time and would not read this publish's PUBACK until the message being refused is acked.
 */
@Injectable()
export class DeadLetterPublisher implements OnModuleDestroy {
  private readonly settings: MqttFeedEnvironment;
  private readonly deadLetters: Counter<'reason'>;
  private client?: MqttClient;

  constructor(
    @Inject(SERVICE_CONFIG) config: ServiceConfig,
    @Inject(MetricsRegistry) metrics: MetricsRegistry,
    @Inject(ROOT_LOGGER) private readonly logger: Logger,
  ) {
    this.settings = environmentOf(config, MqttFeedEnvironment);
    this.deadLetters = new Counter({
      name: 'icu_feed_dead_letters_total',
      help: 'MQTT feed messages refused and dead-lettered, by reason.',
      labelNames: ['reason'],
      registers: [metrics.registry],
    });
  }

  /** Resolves once the broker has the dead letter (its PUBACK). */
  async publish(topic: string, reason: string, payload: Buffer): Promise<void> {
    const letter: DeadLetter = {
      topic,
      reason,
      payload: payload.toString('utf8'),
      deadLetteredAt: new Date().toISOString(),
    };
    await this.connection().publishAsync(
      deadLetterTopic(this.settings.MQTT_TOPIC_PREFIX),
      JSON.stringify(letter),
      {
        qos: 1,
      },
    );
    this.deadLetters.inc({ reason });
  }

  async onModuleDestroy(): Promise<void> {
    await this.client?.endAsync(true);
  }

  private connection(): MqttClient {
    this.client ??= connect(this.settings.MQTT_URL, {
      clientId: `${this.settings.MQTT_CLIENT_ID}-dead-letters-${randomUUID().slice(0, 8)}`,
      clean: true,
      reconnectPeriod: 1_000,
    });
    // mqtt.js reconnects by itself; a publish waits for the connection.
    this.client.on('error', (error) =>
      this.logger.warn({ err: error.message }, 'MQTT dead-letter connection error'),
    );
    return this.client;
  }
}
