// The `icu-ingest` bench: vitals into the ICU monitor over MQTT and over FHIR batch Bundles at the same
// time, and the NEWS2 alerts they raise out to the central monitoring station.
//   1. fresh databases (`hospital_icu_monitor_bench`, `hospital_icu_station_bench`), the bench's bed places
//      added to the unit, the station and the monitor started as processes, every bed admitted;
//   2. load for warm-up + duration: MQTT publishers (QoS 1, open loop at `rate`, or closed loop on a window
//      of vitals not yet stored) and `concurrency` FHIR batch clients (closed loop), each bed owned by one
//      sender; the measured window is the last `duration` seconds;
//   3. drain: the monitor works off what the broker still holds for it, the station receives the last alerts;
//   4. everything is counted in the two databases: Observations stored in the window (two snapshots on the
//      server's clock), every acknowledged vital looked up by its identifier, and each alert's
//      `received_at` at the station against its `effectiveAt` (the send time of the vital that raised it).
import { randomBytes } from 'node:crypto';
import { Client } from 'pg';
import { serviceDatabaseName } from '@hospital/platform';
import { endpointsFromEnv, ensureDatabases } from '../infra/index';
import { findService, repositoryRoot, serviceEntry, serviceEnv, devAuthorization } from '../services';
import { clientConfig, Log, withClient } from './bench-cluster';
import { CpuSnapshot, cpuSnapshot, cpuUse, CpuUse, processNamed } from './bench-cpu';
import { keepAliveAgent } from './bench-http';
import { benchBeds, FhirBatchVitalsLoad, MqttVitalsLoad, type SendCounts } from './bench-icu-load';
import {
  alertFigures,
  brokerDroppedFor,
  clockOffsetMs,
  drainAlerts,
  drainVitals,
  dropMqttSession,
  ingestLags,
  lookUpVitals,
  type Snapshot,
  storedSnapshot,
  StoredPoller,
} from './bench-icu-measure';
import { runLoad } from './bench-load';
import { BenchResultBase, BenchRunOptions, PhaseReporter, percentile, round } from './bench-report';
import { describeExit, portInUse, ServiceProcess } from './service-process';

const SUFFIX = 'bench';
const MONITOR = 'icu-monitor';
const STATION = 'icu-station';
const MONITOR_PORT = 3505;
const STATION_PORT = 3506;
const monitorDb = serviceDatabaseName(MONITOR, SUFFIX);
const stationDb = serviceDatabaseName(STATION, SUFFIX);

export interface BenchIcuIngestOptions extends BenchRunOptions {
  /** Vitals per FHIR batch Bundle. */
  batch: number;
  /** MQTT vitals per second offered (0: no MQTT load). */
  rate: number;
  /** 0: MQTT open loop; N: at most N MQTT vitals published and not yet stored. */
  window: number;
  beds: number;
  publishers: number;
  /** Percent of the patients who deteriorate and recover in cycles. */
  deterioratingPercent: number;
}

type BySource = Record<'mqtt' | 'fhir_batch', number>;

export interface BenchIcuIngestResult extends BenchResultBase {
  scenario: 'icu-ingest';
  /** Observations the monitor stored during the measured window, per second (server clock). */
  vitals_per_s: number;
  vitals_per_s_by_source: BySource;
  /** Vitals acknowledged per second in the window: by the broker (MQTT PUBACK) or the monitor (FHIR 201). */
  published_per_s_by_source: BySource;
  mqtt_target_per_s: number;
  /** MQTT vitals handed to the client library per second in the window (below the target: the bench fell behind). */
  mqtt_sent_per_s: number;
  mqtt_window: number;
  /** Vital sent → Observation written (its `meta.lastUpdated`, the monitor's clock), vitals sent in the window. */
  ingest_lag_p50_ms: number | null;
  ingest_lag_p99_ms: number | null;
  /** Vital sent → alert recorded by the station (`received_at`), alerts raised by vitals sent in the window. */
  alert_latency_p50_ms: number | null;
  alert_latency_p99_ms: number | null;
  alert_latency_max_ms: number | null;
  alert_latency_by_source: Record<string, { alerts: number; p50_ms: number | null; p99_ms: number | null }>;
  /** Vital sent → the alert's notification committed at the monitor (the station's part is the rest). */
  alert_raised_p50_ms: number | null;
  alert_raised_p99_ms: number | null;
  /** Alert transitions the monitor notified for vitals sent in the window; received by the station; by reconciliation. */
  alerts: number;
  alerts_received: number;
  alerts_via_reconciliation: number;
  /** Notified in the window, not at the station when the drain ended. */
  alerts_not_received: number;
  /** MQTT vitals acknowledged by the broker but not yet stored when the window closed. */
  backlog_at_end: number;
  /** Seconds after the window until every acknowledged vital was stored (or the drain gave up). */
  drain_s: number;
  drain_complete: boolean;
  /** Acknowledged vitals (broker PUBACK or FHIR 201) not in the monitor's database after the drain: must be 0. */
  not_stored: number;
  not_stored_by_source: BySource;
  /** The broker logged dropping vitals queued for the monitor's session (null: its log is not readable). */
  broker_dropped_for_monitor: boolean | null;
  /** MQTT vitals the monitor refused (its dead-letter topic); every bench vital is valid, so 0. */
  mqtt_refused: number;
  /** Identifiers stored more than once (a redelivery stored twice). */
  duplicated: number;
  /** Bench clock minus PostgreSQL's clock, ms (same machine: about 0). */
  clock_offset_ms: number;
  beds: number;
  deteriorating_beds: number;
  publishers: number;
  batch: number;
  warmup_s: number;
  cpu_percent: CpuUse;
  peak_rss_mb: Record<string, number | null>;
  error_samples: string[];
}

const quoteIdent = (name: string): string => `"${name.replace(/"/g, '""')}"`;
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
const rounded = (value: number): number | null => (Number.isFinite(value) ? round(value) : null);

async function prepareDatabases(bedIds: readonly string[], log: Log): Promise<void> {
  for (const name of [monitorDb, stationDb]) {
    await withClient('postgres', (admin) =>
      admin.query(`DROP DATABASE IF EXISTS ${quoteIdent(name)} WITH (FORCE)`),
    );
  }
  await ensureDatabases(
    endpointsFromEnv(),
    [
      { database: monitorDb, migrations: findService(MONITOR).migrations },
      { database: stationDb, migrations: findService(STATION).migrations },
    ],
    () => undefined,
  );
  // The unit's layout has twelve places (ICU-01…12, a migration); the bench's wards need more.
  await withClient(monitorDb, (client) =>
    client.query('INSERT INTO icu_bed (bed_id) SELECT unnest($1::text[])', [bedIds]),
  );
  log(`fresh databases ${monitorDb}, ${stationDb}; ${bedIds.length} bed places added`);
}

async function startServices(
  mqtt: { url: string; prefix: string; clientId: string },
  execArgv?: readonly string[],
): Promise<Record<string, ServiceProcess>> {
  const common = {
    HOST: '127.0.0.1',
    LOG_LEVEL: 'warn',
    ICU_MONITOR_URL: `http://127.0.0.1:${MONITOR_PORT}`,
    ICU_STATION_URL: `http://127.0.0.1:${STATION_PORT}`,
  };
  // The station first: the monitor's first alerts find it up.
  const station = await ServiceProcess.start({
    name: STATION,
    entry: serviceEntry(STATION),
    execArgv,
    env: serviceEnv(STATION, { ...common, PORT: String(STATION_PORT), PGDATABASE: stationDb }),
    port: STATION_PORT,
    cwd: repositoryRoot(),
  });
  const monitor = await ServiceProcess.start({
    name: MONITOR,
    entry: serviceEntry(MONITOR),
    execArgv,
    env: serviceEnv(MONITOR, {
      ...common,
      PORT: String(MONITOR_PORT),
      PGDATABASE: monitorDb,
      MQTT_FEED: 'true',
      MQTT_URL: mqtt.url,
      MQTT_TOPIC_PREFIX: mqtt.prefix,
      MQTT_CLIENT_ID: mqtt.clientId,
    }),
    port: MONITOR_PORT,
    cwd: repositoryRoot(),
  });
  return { [MONITOR]: monitor, [STATION]: station };
}

/** Fails the run when a service died under the load (its figures would mean nothing), quoting its output. */
function assertRunning(services: Record<string, ServiceProcess>): void {
  for (const [name, service] of Object.entries(services)) {
    if (service.exit !== undefined)
      throw new Error(
        `${name} exited during the run (${describeExit(service.exit)})${service.outputTail(30)}`,
      );
  }
}

/** Admits every bed's patient through the monitor's API, a few at a time. */
async function admitAll(base: string, beds: readonly { bedId: string; patientId: string }[]): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < beds.length) {
      const bed = beds[next++];
      const response = await fetch(`${base}/api/beds/${bed.bedId}/admission`, {
        method: 'PUT',
        headers: { 'content-type': 'application/json', authorization: devAuthorization('clinician') },
        body: JSON.stringify({ patientId: bed.patientId, spo2Scale: 1 }),
      });
      if (!response.ok) throw new Error(`admitting to ${bed.bedId}: HTTP ${response.status}`);
    }
  };
  await Promise.all(Array.from({ length: 8 }, worker));
}

/** The senders' counts, the CPU and the stored vitals at one edge of the window. */
interface Mark {
  /** Bench clock, ms since the epoch. */
  bench: number;
  mqtt: SendCounts;
  fhir: SendCounts;
  cpu: CpuSnapshot;
  snapshot: Snapshot;
}

const perSecond = (count: number, ms: number): number => (ms > 0 ? round(count / (ms / 1000)) : 0);
const bySourceOf = (mqtt: number, fhir: number): BySource => ({ mqtt, fhir_batch: fhir });

export async function runBenchIcuIngest(options: BenchIcuIngestOptions): Promise<BenchIcuIngestResult> {
  const { log, durationS, warmupS } = options;
  const runId = randomBytes(3).toString('hex');
  const mqtt = {
    url: endpointsFromEnv().mosquitto.url,
    prefix: `bench-${runId}`,
    clientId: `icu-monitor-bench-${runId}`,
  };
  const share = options.deterioratingPercent / 100;
  const mqttBedCount = options.rate > 0 ? Math.ceil(options.beds / 2) : 0;
  const beds = {
    mqtt: benchBeds('mqtt', mqttBedCount, share),
    fhir: benchBeds('fhir', options.beds - mqttBedCount, share),
  };
  const allBeds = [...beds.mqtt, ...beds.fhir];
  // Another run of this bench (or services it left) owns the databases: leave them alone.
  for (const [name, port] of [
    [MONITOR, MONITOR_PORT],
    [STATION, STATION_PORT],
  ] as const) {
    if (await portInUse(port))
      throw new Error(
        `port ${port} (${name}) already in use: another icu-ingest run is going on, or left services behind`,
      );
  }
  await prepareDatabases(
    allBeds.map((b) => b.bedId),
    log,
  );
  const services = await startServices(mqtt, options.serviceExecArgv);
  const base = `http://127.0.0.1:${MONITOR_PORT}`;
  const monitor = new Client(clientConfig(monitorDb));
  const station = new Client(clientConfig(stationDb));
  const agent = keepAliveAgent(options.concurrency);
  let publishers: MqttVitalsLoad | undefined;
  let poller: StoredPoller | undefined;
  try {
    await monitor.connect();
    await station.connect();
    await admitAll(base, allBeds);
    const startMs = Date.now();
    if (options.window > 0) {
      const pollClient = new Client(clientConfig(monitorDb));
      await pollClient.connect();
      poller = new StoredPoller(pollClient);
      poller.start();
    }
    const polled = poller;
    publishers = new MqttVitalsLoad({
      url: mqtt.url,
      prefix: mqtt.prefix,
      runId,
      beds: beds.mqtt,
      publishers: options.publishers,
      rate: options.rate,
      window: options.window,
      startMs,
      storedNow: () => polled?.value ?? 0,
    });
    if (beds.mqtt.length > 0) await publishers.connect();
    const fhir = new FhirBatchVitalsLoad({
      base,
      runId,
      beds: beds.fhir,
      clients: options.concurrency,
      batch: options.batch,
      startMs,
      agent,
    });
    const deteriorating = allBeds.filter((b) => b.deteriorating).length;
    log(
      `${allBeds.length} beds admitted (${beds.mqtt.length} on MQTT, ${beds.fhir.length} on FHIR batches; ${deteriorating} deteriorating); ` +
        `MQTT ${options.rate > 0 ? `${options.rate}/s from ${options.publishers} publishers${options.window > 0 ? `, window ${options.window}` : ', open loop'}` : 'off'}, ` +
        `${fhir.clients} FHIR client(s) × ${options.batch} vitals; topics ${mqtt.prefix}/beds/+/vitals`,
    );

    // One continuous load; the window is its last `durationS` seconds, marked by timers (the FHIR clients
    // finish the requests they have in flight at the deadline, outside the window).
    const accounted = { ...services, mosquitto: processNamed('mosquitto') };
    const mark = async (): Promise<Mark> => {
      // The senders' counts and the bench clock first, the server's snapshot right after.
      const bench = Date.now();
      const mqttCounts = publishers!.counts();
      const fhirCounts = fhir.counts();
      const cpuAt = cpuSnapshot(accounted);
      return {
        bench,
        mqtt: mqttCounts,
        fhir: fhirCounts,
        cpu: cpuAt,
        snapshot: await storedSnapshot(monitor),
      };
    };
    const sent = () => publishers!.counts().sent + fhir.counts().sent;
    const errors = () => publishers!.counts().errors + fhir.counts().errors;
    const warm = options.phase('warm-up', warmupS);
    let measured: PhaseReporter | undefined;
    let atStart = { sent: 0, errors: 0 };
    const after = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
    const loadStarted = performance.now();
    publishers.start();
    const fromMark = after(warmupS * 1000).then(() => {
      warm.done();
      measured = options.phase('vitals in', durationS);
      atStart = { sent: sent(), errors: errors() };
      return mark();
    });
    const toMark = after((warmupS + durationS) * 1000).then(() => {
      publishers!.halt();
      return mark();
    });
    const progress = setInterval(() => {
      const elapsedMs = performance.now() - loadStarted;
      if (measured === undefined) warm.update({ elapsedMs, completed: sent(), errors: errors() });
      else
        measured.update({
          elapsedMs: elapsedMs - warmupS * 1000,
          completed: sent() - atStart.sent,
          errors: errors() - atStart.errors,
        });
    }, 250);
    const requestLatencies: number[] = [];
    const load = await runLoad({
      concurrency: fhir.clients,
      durationMs: (warmupS + durationS) * 1000,
      operation: async (worker) => {
        const t0 = performance.now() - loadStarted;
        const outcome = await fhir.operation(worker);
        const inWindow = t0 >= warmupS * 1000 && t0 < (warmupS + durationS) * 1000;
        if (outcome.ok && inWindow) requestLatencies.push(performance.now() - loadStarted - t0);
        return outcome;
      },
    });
    const [from, to] = await Promise.all([fromMark, toMark]);
    clearInterval(progress);
    measured?.update({
      elapsedMs: durationS * 1000,
      completed: to.mqtt.sent + to.fhir.sent - atStart.sent,
      errors: errors() - atStart.errors,
    });
    measured?.done();
    assertRunning(services);
    const cpu = cpuUse(from.cpu, to.cpu);
    await publishers.stop();
    await poller?.stop();

    const backlogAtEnd = Math.max(0, to.mqtt.acked - to.snapshot.stored.mqtt);
    log(`window closed; ${backlogAtEnd} acknowledged MQTT vital(s) not stored yet, draining…`);
    const drain = await drainVitals(monitor, publishers.acked.size, log);
    await drainAlerts(monitor, log);
    assertRunning(services);
    const rss = Object.fromEntries(
      Object.entries(services).map(([name, process]) => {
        const mb = process.peakRssMb();
        return [name, mb === undefined ? null : round(mb, 1)];
      }),
    );
    // A last look at the station: its latest deliveries may still be committing.
    await sleep(500);

    const windowMs = to.snapshot.at - from.snapshot.at;
    const benchWindowMs = to.bench - from.bench;
    const stored = {
      mqtt: to.snapshot.stored.mqtt - from.snapshot.stored.mqtt,
      fhir: to.snapshot.stored.fhir - from.snapshot.stored.fhir,
    };
    const found = await lookUpVitals(monitor, { mqtt: publishers.acked, fhir: fhir.acked });
    const lags = await ingestLags(monitor, from.bench, to.bench);
    const alerts = await alertFigures(monitor, station, from.bench, to.bench);
    const offset = await clockOffsetMs(monitor);
    const total = stored.mqtt + stored.fhir;
    const latencies = [...requestLatencies].sort((a, b) => a - b);
    const sourceLatency = (values: number[]) => ({
      alerts: values.length,
      p50_ms: rounded(percentile(values, 50)),
      p99_ms: rounded(percentile(values, 99)),
    });
    return {
      scenario: 'icu-ingest',
      concurrency: fhir.clients,
      duration_s: durationS,
      completed: total,
      throughput_per_s: perSecond(total, windowMs),
      p50_ms: round(percentile(latencies, 50)),
      p99_ms: round(percentile(latencies, 99)),
      errors: publishers.counts().errors + fhir.counts().errors,
      vitals_per_s: perSecond(total, windowMs),
      vitals_per_s_by_source: bySourceOf(perSecond(stored.mqtt, windowMs), perSecond(stored.fhir, windowMs)),
      published_per_s_by_source: bySourceOf(
        perSecond(to.mqtt.acked - from.mqtt.acked, benchWindowMs),
        perSecond(to.fhir.acked - from.fhir.acked, benchWindowMs),
      ),
      mqtt_target_per_s: options.rate,
      mqtt_sent_per_s: perSecond(to.mqtt.sent - from.mqtt.sent, benchWindowMs),
      mqtt_window: options.window,
      ingest_lag_p50_ms: rounded(lags.p50),
      ingest_lag_p99_ms: rounded(lags.p99),
      alert_latency_p50_ms: rounded(percentile(alerts.latencies, 50)),
      alert_latency_p99_ms: rounded(percentile(alerts.latencies, 99)),
      alert_latency_max_ms: rounded(alerts.latencies[alerts.latencies.length - 1] ?? NaN),
      alert_latency_by_source: {
        mqtt: sourceLatency(alerts.bySource.mqtt),
        fhir_batch: sourceLatency(alerts.bySource.fhir),
      },
      alert_raised_p50_ms: rounded(percentile(alerts.raised, 50)),
      alert_raised_p99_ms: rounded(percentile(alerts.raised, 99)),
      alerts: alerts.alerts,
      alerts_received: alerts.received,
      alerts_via_reconciliation: alerts.viaReconciliation,
      alerts_not_received: alerts.notReceived,
      backlog_at_end: backlogAtEnd,
      drain_s: round(drain.seconds),
      drain_complete: drain.complete,
      not_stored: found.notStored.mqtt + found.notStored.fhir,
      not_stored_by_source: bySourceOf(found.notStored.mqtt, found.notStored.fhir),
      broker_dropped_for_monitor: brokerDroppedFor(mqtt.clientId),
      mqtt_refused: publishers.refusedCount,
      duplicated: found.duplicated,
      clock_offset_ms: round(offset),
      beds: allBeds.length,
      deteriorating_beds: deteriorating,
      publishers: beds.mqtt.length > 0 ? Math.min(options.publishers, beds.mqtt.length) : 0,
      batch: options.batch,
      warmup_s: warmupS,
      cpu_percent: cpu,
      peak_rss_mb: rss,
      error_samples: [...publishers.errorSamples, ...fhir.errorSamples, ...load.errorSamples].slice(0, 5),
    };
  } finally {
    await poller?.stop();
    await publishers?.close();
    agent.destroy();
    await monitor.end().catch(() => undefined);
    await station.end().catch(() => undefined);
    await Promise.all(Object.values(services).map((s) => s.stop()));
    await dropMqttSession(mqtt.url, mqtt.clientId);
  }
}
