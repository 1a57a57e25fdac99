import { MetricsRegistry } from '@hospital/platform';
import { Counter, Gauge, Histogram } from 'prom-client';
import { Disposition, OutboxMessage } from '../ports/messaging.ports';
import { OutboxRelayObserver } from '../outbox/outbox-relay';
import { ConsumerObserver } from '../adapters/rabbitmq/rabbitmq-consumer';

/** Outbox and inbox metrics: publish lag, backlog, relay failures, consumer decisions, dead letters. */
export class MessagingMetrics implements OutboxRelayObserver, ConsumerObserver {
  private readonly publishedTotal: Counter;
  private readonly lag: Histogram;
  private readonly relayFailures: Counter;
  private readonly consumed: Counter<'queue' | 'disposition'>;

  constructor(
    metrics: MetricsRegistry,
    backlog: () => Promise<{ pending: number; oldestAgeMs: number }> | undefined,
    deadLetters: () => Promise<Map<string, number>>,
  ) {
    const { registry } = metrics;
    // The two backlog gauges of one scrape (collected side by side) share one read of the outbox.
    let reading: Promise<{ pending: number; oldestAgeMs: number } | undefined> | undefined;
    const backlogNow = (): Promise<{ pending: number; oldestAgeMs: number } | undefined> => {
      reading ??= (backlog()?.catch(() => undefined) ?? Promise.resolve(undefined)).finally(() => {
        reading = undefined;
      });
      return reading;
    };
    this.publishedTotal = new Counter({
      name: 'hospital_outbox_published_total',
      help: 'Outbox messages confirmed by the broker.',
      registers: [registry],
    });
    this.lag = new Histogram({
      name: 'hospital_outbox_lag_seconds',
      help: 'Time from an outbox message being written to its broker confirm.',
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
      registers: [registry],
    });
    this.relayFailures = new Counter({
      name: 'hospital_outbox_relay_failures_total',
      help: 'Relay rounds that failed (the messages stayed pending and were retried).',
      registers: [registry],
    });
    this.consumed = new Counter({
      name: 'hospital_inbox_messages_total',
      help: 'Deliveries settled by inbox consumers, by queue and decision.',
      labelNames: ['queue', 'disposition'],
      registers: [registry],
    });
    new Gauge({
      name: 'hospital_outbox_pending_messages',
      help: 'Outbox messages written but not yet confirmed by the broker.',
      registers: [registry],
      async collect() {
        const state = await backlogNow();
        if (state) this.set(state.pending);
      },
    });
    new Gauge({
      name: 'hospital_outbox_oldest_pending_seconds',
      help: 'Age of the oldest outbox message not yet confirmed by the broker (the oldest unsent row).',
      registers: [registry],
      async collect() {
        const state = await backlogNow();
        if (state) this.set(state.oldestAgeMs / 1000);
      },
    });
    new Gauge({
      name: 'hospital_dead_letter_messages',
      help: 'Messages waiting in each consumer queue’s dead-letter queue.',
      labelNames: ['queue'],
      registers: [registry],
      async collect() {
        const depths = await deadLetters().catch(() => new Map<string, number>());
        for (const [queue, depth] of depths) this.set({ queue }, depth);
      },
    });
  }

  published(messages: readonly OutboxMessage[], confirmedAt: Date): void {
    this.publishedTotal.inc(messages.length);
    for (const message of messages)
      this.lag.observe((confirmedAt.getTime() - message.createdAt.getTime()) / 1000);
  }

  failed(): void {
    this.relayFailures.inc();
  }

  settled(queue: string, disposition: Disposition['kind']): void {
    this.consumed.inc({ queue, disposition });
  }
}
