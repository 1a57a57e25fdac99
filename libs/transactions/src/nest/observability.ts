import { MetricsRegistry } from '@hospital/platform';
import { Logger } from 'pino';
import { Counter, Histogram } from 'prom-client';
import { ProtocolLogger, TransactionObserver, TransactionOutcome, TransactionStyle } from '../core/observer';

/** Transaction metrics on the service's Prometheus registry: by style and outcome, durations, retries, recoveries. */
export class MetricsTransactionObserver implements TransactionObserver {
  private readonly total: Counter<'style' | 'outcome'>;
  private readonly duration: Histogram<'style' | 'outcome'>;
  private readonly retries: Counter<'style' | 'step'>;
  private readonly recoveries: Counter<'style' | 'action'>;
  private readonly inFlight: Counter<'style'>;

  constructor(metrics: MetricsRegistry) {
    const registers = [metrics.registry];
    const existing = <T>(name: string): T | undefined =>
      metrics.registry.getSingleMetric(name) as T | undefined;
    this.total =
      existing('hospital_transactions_total') ??
      new Counter({
        name: 'hospital_transactions_total',
        help: 'Global transactions finished, by style and outcome.',
        labelNames: ['style', 'outcome'],
        registers,
      });
    this.duration =
      existing('hospital_transaction_duration_seconds') ??
      new Histogram({
        name: 'hospital_transaction_duration_seconds',
        help: 'Time from start to the last acknowledgement, by style and outcome.',
        labelNames: ['style', 'outcome'],
        buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
        registers,
      });
    this.retries =
      existing('hospital_transaction_retries_total') ??
      new Counter({
        name: 'hospital_transaction_retries_total',
        help: 'Protocol steps repeated after a failure, by style and step.',
        labelNames: ['style', 'step'],
        registers,
      });
    this.recoveries =
      existing('hospital_transaction_recoveries_total') ??
      new Counter({
        name: 'hospital_transaction_recoveries_total',
        help: 'Transactions finished by recovery after a crash or time-out, by style and action.',
        labelNames: ['style', 'action'],
        registers,
      });
    this.inFlight =
      existing('hospital_transactions_started_total') ??
      new Counter({
        name: 'hospital_transactions_started_total',
        help: 'Global transactions started, by style.',
        labelNames: ['style'],
        registers,
      });
  }

  started(style: TransactionStyle): void {
    this.inFlight.inc({ style });
  }
  finished(style: TransactionStyle, _gtid: string, outcome: TransactionOutcome, durationMs: number): void {
    this.total.inc({ style, outcome });
    this.duration.observe({ style, outcome }, durationMs / 1000);
  }
  retried(style: TransactionStyle, _gtid: string, step: string): void {
    this.retries.inc({ style, step });
  }
  recovered(style: TransactionStyle, _gtid: string, action: string): void {
    this.recoveries.inc({ style, action });
  }
}

/** The protocol cores' logger port over the service's pino logger. */
export function protocolLogger(logger: Logger): ProtocolLogger {
  const child = logger.child({ component: 'transactions' });
  return {
    info: (message, fields) => child.info(fields ?? {}, message),
    warn: (message, fields) => child.warn(fields ?? {}, message),
    error: (message, fields) => child.error(fields ?? {}, message),
  };
}
