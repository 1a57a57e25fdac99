// What the `icu-ingest` bench reads from the databases and the broker: the vitals the ICU monitor has
// stored (snapshots on the server's clock), the drains after the load, every acknowledged vital looked up
// by its identifier, and the alerts' way from the vital's send time to the station's record.
import { readFileSync } from 'node:fs';
import { connect } from 'mqtt';
import type { Client } from 'pg';
import type { Log } from './bench-cluster';
import { deviceReferencePrefix, type VitalSource } from './bench-icu-load';

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
const SOURCES: readonly VitalSource[] = ['mqtt', 'fhir'];

export interface Snapshot {
  /** Server clock, ms since the epoch (the statement's start, when its snapshot was taken). */
  at: number;
  stored: Record<VitalSource, number>;
}

/** Observations stored so far, by source, and when (one statement: one snapshot). */
export async function storedSnapshot(client: Client): Promise<Snapshot> {
  const rows = await client.query<{ at: number; mqtt: string; total: string }>(
    `SELECT extract(epoch FROM statement_timestamp()) * 1000 AS at,
            count(*) FILTER (WHERE content->'device'->>'reference' LIKE $1) AS mqtt, count(*) AS total
       FROM fhir_resource WHERE resource_type = 'Observation'`,
    [`${deviceReferencePrefix('mqtt')}%`],
  );
  const row = rows.rows[0];
  const mqtt = Number(row.mqtt);
  return { at: Number(row.at), stored: { mqtt, fhir: Number(row.total) - mqtt } };
}

/** Bench clock minus the server's, from a round trip (the midpoint against the server's reading). */
export async function clockOffsetMs(client: Client): Promise<number> {
  const before = Date.now();
  const rows = await client.query<{ at: number }>(
    'SELECT extract(epoch FROM clock_timestamp()) * 1000 AS at',
  );
  const after = Date.now();
  return (before + after) / 2 - Number(rows.rows[0].at);
}

/**
 * MQTT vitals stored, polled for the closed loop's window: one count at a time, the next one after ten
 * times as long as the last took (at least 100 ms), so the polling costs PostgreSQL at most a tenth of a core
 * however large the table grows.
 */
export class StoredPoller {
  value = 0;
  private stopped = false;
  private running?: Promise<void>;

  constructor(private readonly client: Client) {}

  start(): void {
    this.running = (async () => {
      while (!this.stopped) {
        const started = performance.now();
        try {
          this.value = (await storedSnapshot(this.client)).stored.mqtt;
        } catch {
          // The next round tries again; the window holds meanwhile.
        }
        if (!this.stopped) await sleep(Math.max(100, 10 * (performance.now() - started)));
      }
    })();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.running;
    this.running = undefined;
    await this.client.end().catch(() => undefined);
  }
}

/**
 * Waits until the monitor has stored every acknowledged MQTT vital (the broker may still hold some for its
 * session), giving up after `quietMs` without progress or `capMs` in all.
 */
export async function drainVitals(
  client: Client,
  ackedMqtt: number,
  log: Log,
  capMs = 180_000,
  quietMs = 15_000,
): Promise<{ seconds: number; complete: boolean }> {
  const started = Date.now();
  let last = -1;
  let lastProgress = Date.now();
  for (;;) {
    const stored = (await storedSnapshot(client)).stored.mqtt;
    if (stored >= ackedMqtt) return { seconds: (Date.now() - started) / 1000, complete: true };
    if (stored !== last) {
      last = stored;
      lastProgress = Date.now();
    }
    if (Date.now() - lastProgress > quietMs || Date.now() - started > capMs) {
      log(`drain gave up: ${ackedMqtt - stored} acknowledged MQTT vital(s) not stored`);
      return { seconds: (Date.now() - started) / 1000, complete: false };
    }
    await sleep(250);
  }
}

/** Waits (bounded) until the monitor has no alert notification left to deliver. */
export async function drainAlerts(client: Client, log: Log, capMs = 60_000): Promise<void> {
  const deadline = Date.now() + capMs;
  for (;;) {
    const rows = await client.query<{ n: string }>(
      `SELECT count(*) AS n FROM tx_notification WHERE state = 'pending'`,
    );
    const pending = Number(rows.rows[0].n);
    if (pending === 0) return;
    if (Date.now() > deadline) {
      log(`alert drain gave up: ${pending} notification(s) still pending at the monitor`);
      return;
    }
    await sleep(250);
  }
}

/** Acknowledged identifiers missing from the monitor's database, and identifiers stored twice. */
export async function lookUpVitals(
  client: Client,
  acked: Record<VitalSource, Set<string>>,
): Promise<{ notStored: Record<VitalSource, number>; duplicated: number }> {
  const rows = await client.query<{ identifier: string; n: string }>(
    `SELECT content->'identifier'->0->>'value' AS identifier, count(*) AS n
       FROM fhir_resource WHERE resource_type = 'Observation' GROUP BY 1`,
  );
  const stored = new Map(rows.rows.map((r) => [r.identifier, Number(r.n)]));
  const notStored = { mqtt: 0, fhir: 0 };
  for (const source of SOURCES) for (const id of acked[source]) if (!stored.has(id)) notStored[source] += 1;
  const duplicated = rows.rows.filter((r) => Number(r.n) > 1).length;
  return { notStored, duplicated };
}

/** Vital sent → Observation written, for vitals sent in [from, to) (bench clock), nearest rank. */
export async function ingestLags(
  client: Client,
  from: number,
  to: number,
): Promise<{ p50: number; p99: number }> {
  const rows = await client.query<{ p50: number | null; p99: number | null }>(
    `SELECT percentile_disc(0.5) WITHIN GROUP (ORDER BY lag) AS p50, percentile_disc(0.99) WITHIN GROUP (ORDER BY lag) AS p99
       FROM (SELECT (extract(epoch FROM last_updated) - extract(epoch FROM (content->>'effectiveDateTime')::timestamptz)) * 1000 AS lag
               FROM fhir_resource
              WHERE resource_type = 'Observation'
                AND (content->>'effectiveDateTime')::timestamptz >= to_timestamp($1 / 1000.0)
                AND (content->>'effectiveDateTime')::timestamptz < to_timestamp($2 / 1000.0)) AS lags`,
    [from, to],
  );
  return { p50: Number(rows.rows[0].p50 ?? NaN), p99: Number(rows.rows[0].p99 ?? NaN) };
}

export interface AlertFigures {
  alerts: number;
  received: number;
  viaReconciliation: number;
  notReceived: number;
  latencies: number[];
  bySource: Record<VitalSource, number[]>;
  raised: number[];
}

/**
 * The alerts raised by vitals sent in [from, to): the monitor's notifications (by `effectiveAt`, the send
 * time of the vital that raised the alert) against the station's records of the same idempotency keys.
 */
export async function alertFigures(
  monitor: Client,
  station: Client,
  from: number,
  to: number,
): Promise<AlertFigures> {
  const notified = await monitor.query<{ key: string; raised: number }>(
    `SELECT idempotency_key AS key,
            (extract(epoch FROM created_at) - extract(epoch FROM (payload->>'effectiveAt')::timestamptz)) * 1000 AS raised
       FROM tx_notification
      WHERE (payload->>'effectiveAt')::timestamptz >= to_timestamp($1 / 1000.0)
        AND (payload->>'effectiveAt')::timestamptz < to_timestamp($2 / 1000.0)`,
    [from, to],
  );
  const received = await station.query<{ key: string; bed_id: string; via: string; latency: number }>(
    `SELECT idempotency_key AS key, bed_id, via,
            (extract(epoch FROM received_at) - extract(epoch FROM effective_at)) * 1000 AS latency
       FROM icu_station_alert
      WHERE effective_at >= to_timestamp($1 / 1000.0) AND effective_at < to_timestamp($2 / 1000.0)`,
    [from, to],
  );
  const keys = new Set(received.rows.map((r) => r.key));
  const bySource: Record<VitalSource, number[]> = { mqtt: [], fhir: [] };
  for (const row of received.rows) {
    const source: VitalSource = `Device/${row.bed_id}`.startsWith(deviceReferencePrefix('mqtt'))
      ? 'mqtt'
      : 'fhir';
    bySource[source].push(Number(row.latency));
  }
  const sorted = (values: number[]) => [...values].sort((a, b) => a - b);
  return {
    alerts: notified.rows.length,
    received: received.rows.length,
    viaReconciliation: received.rows.filter((r) => r.via === 'reconciliation').length,
    notReceived: notified.rows.filter((r) => !keys.has(r.key)).length,
    latencies: sorted(received.rows.map((r) => Number(r.latency))),
    bySource: { mqtt: sorted(bySource.mqtt), fhir: sorted(bySource.fhir) },
    raised: sorted(notified.rows.map((r) => Number(r.raised))),
  };
}

/**
 * Whether the broker logged dropping messages queued for the monitor's session: Mosquitto keeps at most
 * `max_queued_messages` (1000 by default) beyond `max_inflight_messages` (20) for a client and drops the
 * rest, after acknowledging them to their publishers. Read from its log (`MOSQUITTO_LOG`, by default
 * Mosquitto's own path); null when the log cannot be read (another broker, no permission).
 */
export function brokerDroppedFor(clientId: string): boolean | null {
  const path = process.env.MOSQUITTO_LOG ?? '/var/log/mosquitto/mosquitto.log';
  try {
    return readFileSync(path, 'utf8').includes(`messages are being dropped for client ${clientId}.`);
  } catch {
    return null;
  }
}

/** Ends the monitor's persistent session on the shared broker (and anything still queued for it). */
export async function dropMqttSession(url: string, clientId: string): Promise<void> {
  const client = connect(url, { clientId, clean: true, reconnectPeriod: 0, connectTimeout: 5_000 });
  await new Promise<void>((resolve) => {
    client.once('connect', () => resolve());
    client.once('error', () => resolve());
    setTimeout(resolve, 5_000).unref();
  });
  await client.endAsync(true).catch(() => undefined);
}
