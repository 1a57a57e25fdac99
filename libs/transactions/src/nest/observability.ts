import { markGlobalTransaction, MetricsRegistry } from '@hospital/platform';
import { Logger } from 'pino';
import { Counter, Gauge, Histogram } from 'prom-client';
import { ProtocolLogger, TransactionObserver, TransactionOutcome, TransactionStyle } from '../core/observer';

/**
 * Transaction metrics on the service's Prometheus registry: by style and outcome, durations, retries,
 * recoveries. A start also marks the active trace span (the request that started the transaction) with
 * its gtid (`hospital.gtid`), so a trace is found from a gtid as a gtid is from a trace.
 */
export class MetricsTransactionObserver implements TransactionObserver {
  private readonly total: Counter<'style' | 'outcome'>;
  private readonly duration: Histogram<'style' | 'outcome'>;
  private readonly retries: Counter<'style' | 'step'>;
  private readonly recoveries: Counter<'style' | 'action'>;
  private readonly starts: Counter<'style'>;

  constructor(metrics: MetricsRegistry) {
    const { registry } = metrics;
    // Several modules of one service may build an observer: the metrics are registered once and shared.
    const counter = <L extends string>(name: string, help: string, labelNames: L[]): Counter<L> =>
      (registry.getSingleMetric(name) as Counter<L> | undefined) ??
      new Counter({ name, help, labelNames, registers: [registry] });
    this.total = counter(
      'hospital_transactions_total',
      'Global transactions finished, by style and outcome.',
      ['style', 'outcome'],
    );
    this.starts = counter('hospital_transactions_started_total', 'Global transactions started, by style.', [
      'style',
    ]);
    this.retries = counter(
      'hospital_transaction_retries_total',
      'Protocol steps repeated after a failure, by style and step.',
      ['style', 'step'],
    );
    this.recoveries = counter(
      'hospital_transaction_recoveries_total',
      'Transactions finished by recovery after a crash or time-out, by style and action.',
      ['style', 'action'],
    );
    const durationName = 'hospital_transaction_duration_seconds';
    this.duration =
      (registry.getSingleMetric(durationName) as Histogram<'style' | 'outcome'> | undefined) ??
      new Histogram({
        name: durationName,
        help: 'Time from start to the last acknowledgement, by style and outcome.',
        labelNames: ['style', 'outcome'],
        buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
        registers: [registry],
      });
  }

  started(style: TransactionStyle, gtid: string): void {
    this.starts.inc({ style });
    markGlobalTransaction(gtid);
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

/** Where the 2PC gauges read their values, at scrape time. */
export interface TwoPhaseCommitGaugeSources {
  /** Age of the oldest prepared transaction in the service's database (0 when none). */
  oldestPreparedAgeSeconds(): Promise<number>;
  /** In-doubt transactions by the service's role in them; a role it does not play is left out. */
  inDoubt(): Promise<Partial<Record<InDoubtRole, number>>>;
}

export type InDoubtRole = 'coordinator' | 'participant';

/**
 * The 2PC gauges operators alert on, read from the database when `/metrics` is scraped (cheap queries,
 * nothing on a request path): `hospital_tx_prepared_oldest_age_seconds`, the age of the oldest row of
 * `pg_prepared_xacts` in the service's database (a prepared transaction holds its row locks until it is
 * resolved), and `hospital_tx_in_doubt{role}`: as coordinator, global transactions unfinished longer than
 * `TX_IN_DOUBT_AFTER_MS`; as participant, branches prepared longer ago than that. A failed read leaves
 * the last value.
 */
export class TwoPhaseCommitGauges {
  constructor(metrics: MetricsRegistry, sources: TwoPhaseCommitGaugeSources) {
    const { registry } = metrics;
    const oldest = 'hospital_tx_prepared_oldest_age_seconds';
    if (!registry.getSingleMetric(oldest)) {
      new Gauge({
        name: oldest,
        help: 'Age of the oldest prepared transaction (pg_prepared_xacts) in this service’s database.',
        registers: [registry],
        async collect() {
          const age = await sources.oldestPreparedAgeSeconds().catch(() => undefined);
          if (age !== undefined) this.set(age);
        },
      });
    }
    const inDoubt = 'hospital_tx_in_doubt';
    if (!registry.getSingleMetric(inDoubt)) {
      new Gauge<'role'>({
        name: inDoubt,
        help: 'Two-phase commit transactions in doubt for longer than TX_IN_DOUBT_AFTER_MS, by this service’s role.',
        labelNames: ['role'],
        registers: [registry],
        async collect() {
          const counts = await sources.inDoubt().catch(() => undefined);
          for (const [role, count] of Object.entries(counts ?? {})) this.set({ role }, count);
        },
      });
    }
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
