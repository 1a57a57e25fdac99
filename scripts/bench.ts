// `npm run bench -- <scenario> [--duration=<s>] [--concurrency=<n>]` (DESIGN.md §7): progress on stderr,
// a readable table on stdout, and the last stdout line is one JSON object. docs/benchmarks.md explains
// what each scenario measures.
import { resolve } from 'node:path';
import { SingleBar } from 'cli-progress';
import { ensureInfrastructure } from './infra/index';
import { Bench2pcResult, runBench2pc } from './lib/bench-2pc';
import { Bench3pcResult, runBench3pc } from './lib/bench-3pc';
import { BenchFhirReadResult, runBenchFhirRead } from './lib/bench-fhir-read';
import { fhirReadReport } from './lib/bench-fhir-read-report';
import { BenchHl7Result, runBenchHl7 } from './lib/bench-hl7';
import { hl7Report } from './lib/bench-hl7-report';
import { BenchAppointmentsResult, runBenchAppointments } from './lib/bench-appointments';
import { formatTable, PhaseReporter } from './lib/bench-report';
import { BenchOutboxResult, runBenchOutbox } from './lib/bench-outbox';
import { BenchIcuIngestResult, runBenchIcuIngest } from './lib/bench-icu-ingest';
import { parseCommandOrExit } from './lib/cli-args';
import { BenchCarePlanResult, runBenchCarePlan } from './lib/bench-care-plan';
import { paperTables, runBenchPaper } from './lib/bench-paper';
import type { PlanMode } from './lib/care-plan-cluster';
import { serviceNames } from './lib/bench-cluster';

const command = parseCommandOrExit(process.argv.slice(2), {
  command: 'bench',
  scenarios: ['2pc', 'outbox', 'appointments', 'icu-ingest', 'care-plan', 'paper', '3pc', 'fhir-read', 'hl7'],
  numbers: {
    duration: {
      default: 20,
      min: 1,
      max: 3_600,
      integer: false,
      description: 'seconds of each measured phase',
    },
    concurrency: {
      default: 32,
      min: 1,
      max: 512,
      integer: true,
      description: 'concurrent clients (icu-ingest: FHIR batch clients)',
    },
    batch: {
      default: 10,
      min: 1,
      max: 100,
      integer: true,
      description:
        'outbox: dispenses per request, a dispensing round posted as one transaction Bundle (1: single MedicationDispense resources); icu-ingest: vitals per FHIR batch Bundle',
    },
    rate: {
      default: 4_000,
      min: 0,
      max: 100_000,
      integer: false,
      description: 'icu-ingest: MQTT vitals per second offered, all publishers together (0: no MQTT load)',
    },
    window: {
      default: 0,
      min: 0,
      max: 1_000_000,
      integer: true,
      description:
        'icu-ingest: 0 publishes MQTT vitals open loop at --rate; N keeps at most N published and not yet stored by the monitor (closed loop, --rate the ceiling)',
    },
    beds: {
      default: 300,
      min: 2,
      max: 2_000,
      integer: true,
      description: 'icu-ingest: beds admitted, half fed over MQTT and half by the FHIR clients',
    },
    publishers: {
      default: 4,
      min: 1,
      max: 64,
      integer: true,
      description: 'icu-ingest: MQTT connections publishing',
    },
    deteriorating: {
      default: 20,
      min: 0,
      max: 100,
      integer: false,
      description: 'icu-ingest: percent of patients cycling between well and the NEWS2 emergency band',
    },
    warmup: {
      default: 3,
      min: 1,
      max: 120,
      integer: false,
      description: 'seconds of warm-up before measuring',
    },
    'error-rate': {
      default: 0,
      min: 0,
      max: 100,
      integer: false,
      description:
        'care-plan: percent of plans that fail (9 of 10 in the stock step, 1 of 10 in the imaging step)',
    },
  },
  choices: {
    mode: {
      choices: ['saga', 'quota-saga', 'tcc'],
      description: 'care-plan: how plans are booked',
    },
  },
  scenarioDefaults: {
    'icu-ingest': { concurrency: 8, batch: 50, duration: 30 },
    appointments: { concurrency: 64 },
    'care-plan': { concurrency: 150 },
    '3pc': { concurrency: 32, duration: 20 },
    hl7: { concurrency: 8, duration: 20 },
  },
});

const log = (line: string): void => {
  process.stderr.write(`bench: ${line}\n`);
};

function phaseBar(name: string, durationS: number): PhaseReporter {
  const bar = new SingleBar({
    stream: process.stderr,
    format: `${name.padEnd(24)} [{bar}] {value}/{total} s | {completed} done | {rate}/s | {errors} errors`,
    noTTYOutput: true,
    notTTYSchedule: 5_000,
    hideCursor: false,
  });
  const total = Math.ceil(durationS);
  bar.start(total, 0, { completed: 0, rate: '0', errors: 0 });
  return {
    update(p) {
      const seconds = p.elapsedMs / 1000;
      bar.update(Math.min(total, Math.floor(seconds)), {
        completed: p.completed,
        errors: p.errors,
        rate: seconds > 0 ? (p.completed / seconds).toFixed(0) : '0',
      });
    },
    done() {
      bar.update(total);
      bar.stop();
    },
  };
}

/** Writes a scenario's report on stdout: its title, its tables, and the first errors if there were any. */
function writeReport(title: string, tables: readonly string[], errorSamples: readonly string[]): void {
  const out = ['', title, ''];
  for (const table of tables) out.push(table, '');
  if (errorSamples.length > 0) out.push(`first errors: ${errorSamples.join(' | ')}`, '');
  process.stdout.write(`${out.join('\n')}\n`);
}

const fmt = (value: number | null | undefined, digits = 1): string =>
  value === null || value === undefined || !Number.isFinite(value) ? '-' : value.toFixed(digits);

function report(r: Bench2pcResult): void {
  const cpu = r.cpu_percent;
  const phases = [cpu, r.limit_cpu_percent, r.baseline_cpu_percent];
  writeReport(
    `Bench: 2pc — record update (emr coordinates, lis and pacs prepare), ${r.concurrency} clients, ${r.duration_s} s per phase`,
    [
      formatTable(
        ['phase', 'completed', 'per second', 'p50 ms', 'p99 ms', 'errors'],
        [
          [
            'workflow over 2PC (HTTP, 3 services)',
            String(r.completed),
            fmt(r.throughput_per_s),
            fmt(r.p50_ms),
            fmt(r.p99_ms),
            String(r.errors),
          ],
          [
            'PREPARE + COMMIT PREPARED loop',
            String(r.limit_iterations),
            fmt(r.pg_prepared_commit_limit_per_s),
            '-',
            '-',
            '-',
          ],
          [
            'same writes, no coordination',
            String(r.baseline_completed),
            fmt(r.unsafe_baseline_per_s),
            fmt(r.baseline_p50_ms),
            '-',
            '-',
          ],
        ],
      ),
      formatTable(
        ['figure', 'value'],
        [
          ['commits per global tx (xact_commit, 3 databases)', fmt(r.commits_per_global_tx, 2)],
          ...serviceNames.map((s) => [`  of which ${s}`, fmt(r.commits_per_global_tx_by_db[s], 2)]),
          ['xact_commit per limit-loop iteration', fmt(r.limit_commits_per_iteration, 2)],
          ['implied bound on global tx/s (limit / commits per tx)', fmt(r.implied_global_tx_limit_per_s)],
          ['limit_ratio (throughput / implied bound)', fmt(r.limit_ratio, 3)],
          ['limit ratio, both sides in xact_commit', fmt(r.limit_ratio_same_units, 3)],
          ['vs unsafe baseline', fmt(r.vs_unsafe_ratio, 3)],
        ],
      ),
      formatTable(
        ['process', 'peak RSS MiB', 'CPU % (workflow)', 'CPU % (limit loop)', 'CPU % (baseline)'],
        [
          ...serviceNames.map((s) => [s, fmt(r.peak_rss_mb[s]), fmt(cpu.services[s]), '-', '-']),
          ['postgres (whole cluster)', '-', ...phases.map((p) => fmt(p.postgres))],
          ['bench client', '-', ...phases.map((p) => fmt(p.client))],
          ['other processes on the machine', '-', ...phases.map((p) => fmt(p.other))],
          [
            `machine busy (${cpu.cores} cores = ${cpu.cores * 100}%)`,
            '-',
            ...phases.map((p) => fmt(p.machine_busy === null ? null : p.machine_busy * p.cores)),
          ],
        ],
      ),
    ],
    r.error_samples,
  );
}

function reportOutbox(r: BenchOutboxResult): void {
  // CPU % by the names cpu_ms_per_dispense uses.
  const percentOf: Record<string, number | null> = {
    ...r.cpu_percent.services,
    postgres: r.cpu_percent.postgres,
    bench_client: r.cpu_percent.client,
    other: r.cpu_percent.other,
  };
  writeReport(
    `Bench: outbox — dispensing → inventory over the outbox, RabbitMQ and the inbox, ${r.concurrency} clients, ${r.batch} dispense(s) per request, ${r.duration_s} s`,
    [
      formatTable(
        ['figure', 'value'],
        [
          ['dispenses committed (HTTP 201)', String(r.completed)],
          ['dispenses per second', fmt(r.throughput_per_s)],
          ['request HTTP p50 / p99 ms', `${fmt(r.p50_ms)} / ${fmt(r.p99_ms)}`],
          ['errors', String(r.errors)],
          ['end to end per second (applied by the inventory)', fmt(r.end_to_end_per_s)],
          ['lag committed → applied p50 / p99 ms', `${fmt(r.lag_p50_ms)} / ${fmt(r.lag_p99_ms)}`],
          ['dispenses not applied after the drain', String(r.not_applied)],
          ['PostgreSQL one-row commit limit per second', fmt(r.pg_commit_limit_per_s)],
          [
            'RabbitMQ confirmed publish limit per second (quorum queue)',
            fmt(r.broker_confirmed_publish_limit_per_s),
          ],
          ['limit_ratio (end to end / smaller limit)', fmt(r.limit_ratio, 3)],
        ],
      ),
      formatTable(
        ['process', 'CPU ms per dispense', 'CPU % (dispensing phase)', 'peak RSS MB'],
        Object.entries(r.cpu_ms_per_dispense).map(([name, ms]) => [
          name,
          fmt(ms, 2),
          fmt(percentOf[name]),
          name in r.peak_rss_mb ? fmt(r.peak_rss_mb[name]) : '-',
        ]),
      ),
    ],
    r.error_samples,
  );
}

function reportAppointments(r: BenchAppointmentsResult): void {
  const cpu = r.cpu_percent;
  const detail = r.double_bookings_detail;
  writeReport(
    `Bench: appointments — ${r.concurrency} clients racing for the earliest free slots of ${r.practitioners} practitioner(s), ${r.duration_s} s`,
    [
      formatTable(
        ['figure', 'value'],
        [
          ['bookings (HTTP 201)', String(r.completed)],
          ['bookings per second', fmt(r.bookings_per_s)],
          ['booking p50 / p99 ms (POST Appointment, 201)', `${fmt(r.p50_ms)} / ${fmt(r.p99_ms)}`],
          ['refused: slot taken by another client (409, expected)', String(r.refused_taken)],
          ['refusal p50 ms', fmt(r.refusal_p50_ms)],
          ['free-slot search p50 / p99 ms', `${fmt(r.search_p50_ms)} / ${fmt(r.search_p99_ms)}`],
          ['errors', String(r.errors)],
          ['double bookings (counted in the database)', String(r.double_bookings)],
          [
            '  same slot twice · in the FHIR store · overlapping times',
            `${detail.same_slot} · ${detail.fhir_same_slot} · ${detail.overlapping_times}`,
          ],
          ['active bookings in the database (warm-up included)', String(r.bookings_in_database)],
          [
            'confirmations delivered (sinks, distinct keys) / written',
            `${r.notifications_delivered} / ${r.notifications_expected}`,
          ],
          ['  marked delivered in the notification log', String(r.notifications_delivered_in_store)],
          ['  repeats received (at least once)', String(r.notifications_duplicates)],
          [
            'booking answered → confirmation received p50 / p99 ms',
            `${fmt(r.confirmation_lag_p50_ms)} / ${fmt(r.confirmation_lag_p99_ms)}`,
          ],
          ['waited for the confirmations, s', fmt(r.drain_s)],
          ['seeded slots', `${r.seeded_slots}${r.slots_exhausted ? ' (all booked before the end)' : ''}`],
        ],
      ),
      formatTable(
        ['process', 'peak RSS MiB', 'CPU % (booking phase)'],
        [
          ['appointments', fmt(r.peak_rss_mb.appointments), fmt(cpu.services.appointments)],
          ['postgres (whole cluster)', '-', fmt(cpu.postgres)],
          ['bench client and confirmation sinks', '-', fmt(cpu.client)],
          ['other processes on the machine', '-', fmt(cpu.other)],
          [
            `machine busy (${cpu.cores} cores = ${cpu.cores * 100}%)`,
            '-',
            fmt(cpu.machine_busy === null ? null : cpu.machine_busy * cpu.cores),
          ],
        ],
      ),
    ],
    r.error_samples,
  );
}

function reportIcuIngest(r: BenchIcuIngestResult): void {
  const both = (figures: { mqtt: number; fhir_batch: number }, digits = 1): string =>
    `${fmt(figures.mqtt, digits)} / ${fmt(figures.fhir_batch, digits)}`;
  const cpu = r.cpu_percent;
  const mqttLoad =
    r.mqtt_target_per_s === 0
      ? 'no MQTT'
      : `MQTT ${r.mqtt_target_per_s}/s from ${r.publishers} publishers${r.mqtt_window > 0 ? ` (window ${r.mqtt_window})` : ' (open loop)'}`;
  const out = [
    '',
    `Bench: icu-ingest — vitals into the ICU monitor, NEWS2 alerts out to the station; ${r.beds} beds (${r.deteriorating_beds} deteriorating), ${mqttLoad}, ${r.concurrency} FHIR clients × ${r.batch} vitals per batch, ${r.duration_s} s`,
    '',
    formatTable(
      ['figure', 'value'],
      [
        ['vitals stored per second (monitor database, server clock)', fmt(r.vitals_per_s)],
        ['  MQTT / FHIR batch', both(r.vitals_per_s_by_source)],
        [
          'MQTT vitals per second: target / sent / acknowledged by the broker',
          `${fmt(r.mqtt_target_per_s)} / ${fmt(r.mqtt_sent_per_s)} / ${fmt(r.published_per_s_by_source.mqtt)}`,
        ],
        ['FHIR batch vitals acknowledged (201) per second', fmt(r.published_per_s_by_source.fhir_batch)],
        ['vital sent → stored p50 / p99 ms', `${fmt(r.ingest_lag_p50_ms)} / ${fmt(r.ingest_lag_p99_ms)}`],
        ['FHIR batch request p50 / p99 ms', `${fmt(r.p50_ms)} / ${fmt(r.p99_ms)}`],
        [
          'vital sent → alert at the station p50 / p99 / max ms',
          `${fmt(r.alert_latency_p50_ms)} / ${fmt(r.alert_latency_p99_ms)} / ${fmt(r.alert_latency_max_ms)}`,
        ],
        [
          '  MQTT p99 / FHIR batch p99 ms',
          `${fmt(r.alert_latency_by_source.mqtt.p99_ms)} / ${fmt(r.alert_latency_by_source.fhir_batch.p99_ms)}`,
        ],
        [
          'vital sent → alert raised at the monitor p50 / p99 ms',
          `${fmt(r.alert_raised_p50_ms)} / ${fmt(r.alert_raised_p99_ms)}`,
        ],
        [
          'alerts raised / received / by reconciliation / not received',
          `${r.alerts} / ${r.alerts_received} / ${r.alerts_via_reconciliation} / ${r.alerts_not_received}`,
        ],
        ['MQTT backlog when the window closed (acknowledged, not stored)', String(r.backlog_at_end)],
        ['drain s', `${fmt(r.drain_s)}${r.drain_complete ? '' : ' (gave up)'}`],
        [
          'acknowledged vitals not stored (MQTT / FHIR)',
          `${r.not_stored} (${both(r.not_stored_by_source, 0)})`,
        ],
        [
          'broker dropped vitals queued for the monitor (its log)',
          r.broker_dropped_for_monitor === null ? 'unknown' : r.broker_dropped_for_monitor ? 'yes' : 'no',
        ],
        ['MQTT vitals refused by the monitor (dead letters)', String(r.mqtt_refused)],
        ['vitals stored twice', String(r.duplicated)],
        ['vitals not acknowledged (errors)', String(r.errors)],
        ['bench clock − PostgreSQL clock ms', fmt(r.clock_offset_ms)],
      ],
    ),
    '',
    formatTable(
      ['process', 'CPU % (window)', 'peak RSS MB'],
      [
        ...Object.entries(cpu.services).map(([name, percent]) => [
          name,
          fmt(percent),
          name in r.peak_rss_mb ? fmt(r.peak_rss_mb[name]) : '-',
        ]),
        ['postgres (whole cluster)', fmt(cpu.postgres), '-'],
        ['bench client', fmt(cpu.client), '-'],
        ['other processes on the machine', fmt(cpu.other), '-'],
        [
          `machine busy (${cpu.cores} cores = ${cpu.cores * 100}%)`,
          fmt(cpu.machine_busy === null ? null : cpu.machine_busy * cpu.cores),
          '-',
        ],
      ],
    ),
    '',
  ];
  if (r.error_samples.length > 0) out.push(`first errors: ${r.error_samples.join(' | ')}`, '');
  process.stdout.write(`${out.join('\n')}\n`);
}

function reportCarePlan(r: BenchCarePlanResult): void {
  writeReport(
    `Bench: care-plan — treatment plans in ${r.mode} mode, ${r.concurrency} clients, ${r.error_rate} % errors, ${r.duration_s} s`,
    [
      formatTable(
        ['figure', 'value'],
        [
          ['plans answered per second (active + revoked)', fmt(r.plans_per_s)],
          ['plans active / revoked', `${r.completed_plans} / ${r.revoked_plans}`],
          ['p50 / p99 ms', `${fmt(r.p50_ms)} / ${fmt(r.p99_ms)}`],
          ['errors', String(r.errors)],
          ['dirty_reads (seen taken, plan then revoked)', String(r.dirty_reads)],
          ['double_committed', String(r.double_committed)],
          ['lost', String(r.lost)],
          ['stuck holds', String(r.stuck)],
          ['drain after the run, s', fmt(r.drain_s)],
        ],
      ),
      formatTable(
        ['process', 'peak RSS MiB', 'CPU %'],
        [
          ...Object.entries(r.peak_rss_mb).map(([name, rss]) => [
            name,
            fmt(rss),
            fmt(r.cpu_percent.services[name]),
          ]),
          ['postgres (whole cluster)', '-', fmt(r.cpu_percent.postgres)],
          ['bench client', '-', fmt(r.cpu_percent.client)],
          ['other processes on the machine', '-', fmt(r.cpu_percent.other)],
        ],
      ),
    ],
    r.error_samples,
  );
}

function report3pc(r: Bench3pcResult): void {
  const cpuServices = ['telemedicine', 'emr', 'referral-inbox', 'postgres', 'bench_client'];
  writeReport(
    `Bench: 3pc — telemedicine consult completion (EMR findings, consult record, referral inbox) three ways, ${r.concurrency} clients, ${r.duration_s} s per mode`,
    [
      formatTable(
        ['mode', 'completed', 'per second', 'p50 ms', 'p99 ms', 'errors', 'missing a part'],
        r.modes.map((m) => [
          m.mode,
          String(m.completed),
          fmt(m.per_s),
          fmt(m.p50_ms),
          fmt(m.p99_ms),
          String(m.errors + m.warmup_errors),
          String(m.incomplete),
        ]),
      ),
      formatTable(
        ['figure', 'value'],
        [
          ['three_vs_two_ratio (3pc / 2pc)', fmt(r.three_vs_two_ratio, 3)],
          ['twopc_vs_uncoordinated_ratio (2pc / uncoordinated)', fmt(r.twopc_vs_uncoordinated_ratio, 3)],
          ['threepc_vs_uncoordinated_ratio (3pc / uncoordinated)', fmt(r.threepc_vs_uncoordinated_ratio, 3)],
          ['prepared transactions left after the run', String(r.prepared_left)],
          ['peak RSS of the services, MiB (largest)', fmt(r.peak_rss_mb)],
        ],
      ),
      formatTable(
        ['CPU ms per completion', ...r.modes.map((m) => m.mode)],
        cpuServices.map((name) => [name, ...r.modes.map((m) => fmt(m.cpu_ms_per_completion[name], 2))]),
      ),
      formatTable(
        ['xact_commit per completion', ...r.modes.map((m) => m.mode)],
        (['telemedicine', 'emr', 'referral-inbox'] as const).map((db) => [
          db,
          ...r.modes.map((m) => fmt(m.xact_commits_per_completion[db], 2)),
        ]),
      ),
      formatTable(
        ['process', 'peak RSS MiB', ...r.modes.map((m) => `CPU % (${m.mode})`)],
        [
          ...(['telemedicine', 'emr', 'referral-inbox'] as const).map((name) => [
            name,
            fmt(r.peak_rss_mb_by_service[name]),
            ...r.modes.map((m) => fmt(m.cpu_percent.services[name])),
          ]),
          ['postgres (whole cluster)', '-', ...r.modes.map((m) => fmt(m.cpu_percent.postgres))],
          ['bench client', '-', ...r.modes.map((m) => fmt(m.cpu_percent.client))],
          ['other processes on the machine', '-', ...r.modes.map((m) => fmt(m.cpu_percent.other))],
        ],
      ),
    ],
    r.modes.flatMap((m) => m.error_samples).slice(0, 5),
  );
}

function reportFhirRead(r: BenchFhirReadResult): void {
  const { title, tables, errors } = fhirReadReport(r);
  writeReport(title, tables, errors);
}

function reportHl7(r: BenchHl7Result): void {
  const { title, tables, errors } = hl7Report(r);
  writeReport(title, tables, errors);
}

async function main(): Promise<void> {
  const { concurrency, duration, warmup, batch } = command.numbers;
  await ensureInfrastructure({ log });
  // BENCH_PROFILE_DIR=<dir>: each service writes a V8 CPU profile there when it stops (profiling slows it).
  const profileDir = process.env.BENCH_PROFILE_DIR;
  // BENCH_NODE_FLAGS="--flag …": extra Node/V8 flags for every service (to measure a memory setting).
  const nodeFlags = process.env.BENCH_NODE_FLAGS?.split(/\s+/).filter((flag) => flag !== '') ?? [];
  const profileFlags = profileDir ? ['--cpu-prof', `--cpu-prof-dir=${resolve(profileDir)}`] : [];
  const flags = [...nodeFlags, ...profileFlags];
  const serviceExecArgv = flags.length > 0 ? flags : undefined;
  if (nodeFlags.length > 0) log(`services run with ${nodeFlags.join(' ')}`);
  if (profileDir)
    log(`services write CPU profiles to ${resolve(profileDir)}; figures are slower than unprofiled`);
  const runOptions = {
    concurrency,
    durationS: duration,
    warmupS: warmup,
    log,
    phase: phaseBar,
    serviceExecArgv,
  };
  if (command.scenario === 'icu-ingest') {
    const icu = await runBenchIcuIngest({
      ...runOptions,
      batch,
      rate: command.numbers.rate,
      window: command.numbers.window,
      beds: command.numbers.beds,
      publishers: command.numbers.publishers,
      deterioratingPercent: command.numbers.deteriorating,
    });
    reportIcuIngest(icu);
    process.stdout.write(`${JSON.stringify(icu)}\n`);
    return;
  }
  if (command.scenario === 'outbox') {
    const outbox = await runBenchOutbox({ ...runOptions, batch });
    reportOutbox(outbox);
    process.stdout.write(`${JSON.stringify(outbox)}\n`);
    return;
  }
  if (command.scenario === 'care-plan') {
    const mode = (command.choices.mode ?? 'quota-saga') as PlanMode;
    const plans = await runBenchCarePlan({ ...runOptions, mode, errorRate: command.numbers['error-rate'] });
    reportCarePlan(plans);
    process.stdout.write(`${JSON.stringify(plans)}\n`);
    return;
  }
  if (command.scenario === 'paper') {
    const paper = await runBenchPaper(runOptions);
    process.stdout.write(
      `\nBench: paper — section 6 of the quota-cached saga paper, three modes\n\n${paperTables(paper)}\n\n`,
    );
    process.stdout.write(`${JSON.stringify(paper)}\n`);
    return;
  }
  if (command.scenario === '3pc') {
    const consults = await runBench3pc(runOptions);
    report3pc(consults);
    process.stdout.write(`${JSON.stringify(consults)}\n`);
    return;
  }
  if (command.scenario === 'fhir-read') {
    const reads = await runBenchFhirRead(runOptions);
    reportFhirRead(reads);
    process.stdout.write(`${JSON.stringify(reads)}\n`);
    return;
  }
  if (command.scenario === 'hl7') {
    const results = await runBenchHl7(runOptions);
    reportHl7(results);
    process.stdout.write(`${JSON.stringify(results)}\n`);
    return;
  }
  if (command.scenario === 'appointments') {
    const appointments = await runBenchAppointments(runOptions);
    reportAppointments(appointments);
    process.stdout.write(`${JSON.stringify(appointments)}\n`);
    return;
  }
  const result = await runBench2pc(runOptions);
  report(result);
  process.stdout.write(`${JSON.stringify(result)}\n`);
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    const text = error instanceof Error ? error.message : String(error);
    process.stderr.write(`bench: error: ${text}\n`);
    process.stdout.write(`${JSON.stringify({ scenario: command.scenario, error: text.split('\n')[0] })}\n`);
    process.exit(1);
  },
);
