import { setTimeout as sleep } from 'node:timers/promises';
import { Inject, Injectable, OnModuleDestroy } from '@nestjs/common';
import type { Observation } from '@medplum/fhirtypes';
import type { Logger } from 'pino';
import { Counter } from 'prom-client';
import { FhirValidator } from '@hospital/fhir';
import {
  DomainException,
  environmentOf,
  MetricsRegistry,
  ROOT_LOGGER,
  SERVICE_CONFIG,
  type ServiceConfig,
} from '@hospital/platform';
import { VitalsService } from '../vitals/vitals.service';
import { DeadLetterPublisher } from './dead-letter.publisher';
import { FeedErrorCode, FeedException } from './feed.exception';
import { MqttFeedEnvironment } from './feed.environment';
import { bedOfTopic } from './feed-topics';

/** Retries of a transient failure (the database away): the first delay and the longest, in ms. */
const RETRY_FIRST_MS = 100;
const RETRY_MAX_MS = 5_000;

/**
 * One bedside message → one vital, through the same checks and `VitalsService` path as REST: the payload
 * must be a JSON FHIR Observation (the FHIR validator of the REST path), its `device` the topic's bed;
 * then `VitalsService.record` stores and scores it in one local transaction.
 *
 * `receive` resolves `true` when the message is settled and may be acked: the vital committed, or it was
 * refused (a `DomainException` whose disposition is `dead-letter`: every `VitalErrorCode`, a FHIR validation
 * error, malformed JSON, a bed mismatch) and the dead letter is with the broker. Any other failure is
 * transient: it is retried here with back-off, holding the message (and the acknowledgement of those after
 * it: acks go in order) until it commits; `false` only once the monitor is shutting down — the message is
 * then not acked and the broker delivers it again on the session's next connection. Many messages are
 * received at once (`VitalsFeedServer`), so their vitals share group commits (`VitalsService`).
 */
@Injectable()
export class VitalsFeedService implements OnModuleDestroy {
  private readonly prefix: string;
  private readonly stored: Counter;
  private closing = false;
  private readonly closed = new AbortController();

  constructor(
    @Inject(VitalsService) private readonly vitals: VitalsService,
    @Inject(FhirValidator) private readonly validator: FhirValidator,
    @Inject(DeadLetterPublisher) private readonly deadLetters: DeadLetterPublisher,
    @Inject(SERVICE_CONFIG) config: ServiceConfig,
    @Inject(MetricsRegistry) metrics: MetricsRegistry,
    @Inject(ROOT_LOGGER) private readonly logger: Logger,
  ) {
    this.prefix = environmentOf(config, MqttFeedEnvironment).MQTT_TOPIC_PREFIX;
    this.stored = new Counter({
      name: 'icu_feed_vitals_stored_total',
      help: 'Vitals from the MQTT feed stored and scored.',
      registers: [metrics.registry],
    });
  }

  /** Settles one message (see the class); `payload` is the parsed JSON, or the raw text if it was not JSON. */
  async receive(topic: string, payload: unknown, raw: Buffer): Promise<boolean> {
    for (let attempt = 0; !this.closing; attempt++) {
      try {
        await this.vitals.record(this.observationOf(topic, payload), { once: true });
        this.stored.inc();
        return true;
      } catch (error) {
        if (error instanceof DomainException && error.disposition === 'dead-letter') {
          return this.deadLetter(topic, String(error.code), raw);
        }
        const delay = Math.min(RETRY_MAX_MS, RETRY_FIRST_MS * 2 ** attempt);
        this.logger.warn(
          { topic, attempt, delayMs: delay, err: error instanceof Error ? error.name : 'unknown' },
          'MQTT vital not stored; retrying, not acked',
        );
        await sleep(delay, undefined, { signal: this.closed.signal }).catch(() => undefined);
      }
    }
    return false;
  }

  onModuleDestroy(): void {
    this.closing = true;
    this.closed.abort();
  }

  private observationOf(topic: string, payload: unknown): Observation {
    if (typeof payload !== 'object' || payload === null || Array.isArray(payload)) {
      throw new FeedException(FeedErrorCode.MalformedJson, 'The message is not a JSON object');
    }
    const observation = this.validator.validate<Observation>(payload, 'Observation');
    const bedId = bedOfTopic(topic, this.prefix);
    if (bedId === undefined || observation.device?.reference !== `Device/${bedId}`) {
      throw new FeedException(
        FeedErrorCode.TopicBedMismatch,
        `The Observation's device is not the topic's bed ${bedId ?? '(none)'}`,
        ['Observation.device'],
      );
    }
    return observation;
  }

  private async deadLetter(topic: string, reason: string, raw: Buffer): Promise<boolean> {
    try {
      await this.deadLetters.publish(topic, reason, raw);
    } catch (error) {
      // Not dead-lettered, so not acked: refused again when the broker redelivers it.
      this.logger.warn(
        { topic, reason, err: error instanceof Error ? error.message : 'unknown' },
        'MQTT dead letter not published',
      );
      return false;
    }
    this.logger.info({ topic, reason }, 'MQTT vital refused and dead-lettered');
    return true;
  }
}
