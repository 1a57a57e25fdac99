import { MetricsRegistry } from '@hospital/platform';
import { Counter, Gauge, Histogram } from 'prom-client';
import { AttemptOutcome } from '../ports/best-effort.ports';
import { BestEffortObserver } from '../best-effort/dispatcher';
import { NotificationBacklog } from '../adapters/postgres/postgres-notification-store';

/**
 * Best-effort notification metrics: attempts by channel and outcome, deliveries and their latency (written
 * → delivered), dead letters, failed dispatch rounds, and the log's pending and dead-lettered counts.
 */
export class BestEffortMetrics implements BestEffortObserver {
  private readonly attempts: Counter<'channel' | 'outcome'>;
  private readonly deliveredTotal: Counter<'channel'>;
  private readonly latency: Histogram<'channel'>;
  private readonly deadLetteredTotal: Counter<'channel'>;
  private readonly failures: Counter;

  constructor(metrics: MetricsRegistry, backlog: () => Promise<NotificationBacklog>) {
    const { registry } = metrics;
    let reading: Promise<NotificationBacklog | undefined> | undefined;
    // The gauges of one scrape share one read of the log.
    const backlogNow = (): Promise<NotificationBacklog | undefined> => {
      reading ??= backlog()
        .catch(() => undefined)
        .finally(() => {
          reading = undefined;
        });
      return reading;
    };
    this.attempts = new Counter({
      name: 'hospital_notification_attempts_total',
      help: 'Best-effort notification delivery attempts, by channel and outcome.',
      labelNames: ['channel', 'outcome'],
      registers: [registry],
    });
    this.deliveredTotal = new Counter({
      name: 'hospital_notifications_delivered_total',
      help: 'Best-effort notifications delivered, by channel.',
      labelNames: ['channel'],
      registers: [registry],
    });
    this.latency = new Histogram({
      name: 'hospital_notification_delivery_seconds',
      help: 'Time from a notification being written to its delivery, by channel.',
      labelNames: ['channel'],
      buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900],
      registers: [registry],
    });
    this.deadLetteredTotal = new Counter({
      name: 'hospital_notifications_dead_lettered_total',
      help: 'Best-effort notifications dead-lettered (rejected for good, or out of attempts), by channel.',
      labelNames: ['channel'],
      registers: [registry],
    });
    this.failures = new Counter({
      name: 'hospital_notification_dispatch_failures_total',
      help: 'Dispatch rounds that failed as a whole (the log unreachable); their notifications wait for their leases.',
      registers: [registry],
    });
    new Gauge({
      name: 'hospital_notifications_pending',
      help: 'Best-effort notifications written and not yet delivered or dead-lettered.',
      registers: [registry],
      async collect() {
        const state = await backlogNow();
        if (state) this.set(state.pending);
      },
    });
    new Gauge({
      name: 'hospital_notification_dead_letters',
      help: 'Best-effort notifications dead-lettered now, waiting for a replay.',
      registers: [registry],
      async collect() {
        const state = await backlogNow();
        if (state) this.set(state.deadLettered);
      },
    });
    new Gauge({
      name: 'hospital_notification_oldest_pending_seconds',
      help: 'Age of the oldest best-effort notification not yet delivered or dead-lettered.',
      registers: [registry],
      async collect() {
        const state = await backlogNow();
        if (state) this.set(state.oldestPendingAgeMs / 1000);
      },
    });
  }

  attempted(channel: string, outcome: AttemptOutcome): void {
    this.attempts.inc({ channel, outcome });
  }

  delivered(channel: string, latencyMs: number): void {
    this.deliveredTotal.inc({ channel });
    this.latency.observe({ channel }, Math.max(0, latencyMs) / 1000);
  }

  deadLettered(channel: string, count: number): void {
    this.deadLetteredTotal.inc({ channel }, count);
  }

  failed(): void {
    this.failures.inc();
  }
}
