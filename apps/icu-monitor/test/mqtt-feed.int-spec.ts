import { randomUUID } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import type { Bundle, Flag, RiskAssessment } from '@medplum/fhirtypes';
import type { INestApplication } from '@nestjs/common';
import { connect, type MqttClient } from 'mqtt';
import { FhirExceptionFilter } from '@hospital/fhir';
import { createServiceApp, Database } from '@hospital/platform';
import { createTestDatabase } from '@hospital/platform/testing/test-database';
import {
  bedsideObservation,
  BedsideSimulator,
  PARAMETERS,
  readingsAt,
  type BedsideBed,
} from '../../../scripts/lib/bedside-simulator';
import { icuMonitorConfig } from '../src/config';
import { migrations } from '../src/database/migrations';
import type { DeadLetter } from '../src/feed/dead-letter.publisher';
import { connectVitalsFeed } from '../src/feed/vitals-feed.server';
import { IcuMonitorModule } from '../src/icu-monitor.module';
import { NEWS2_TOTAL } from '../src/vitals/news2-assessment';
import { testAuthorizationFor } from '@hospital/platform/testing/access-token';

/**
 * The bedside feed against the real Mosquitto (127.0.0.1:1883) and PostgreSQL, the monitor a real Nest
 * hybrid app: vitals over MQTT stored and scored exactly as over REST, refusals dead-lettered with their
 * reason and nothing written, a QoS 1 burst stored once each, and vitals published while the monitor is
 * down stored after it comes back on its persistent session. Topics and client id are unique to the run.
 */
jest.setTimeout(120_000);

const MQTT_URL = process.env.MQTT_URL ?? 'mqtt://127.0.0.1:1883';
const RUN = randomUUID().slice(0, 8);
const PREFIX = `icu-test-${RUN}`;
const CLIENT_ID = `icu-monitor-test-${RUN}`;
const PAST = Date.now() - 3_600_000;

let base: string;
let pgDatabase: string;

async function startMonitor(): Promise<INestApplication> {
  const config = icuMonitorConfig({
    ...process.env,
    PGDATABASE: pgDatabase,
    LOG_LEVEL: 'error',
    NOTIFICATION_DISPATCHER: 'false',
    MQTT_URL,
    MQTT_TOPIC_PREFIX: PREFIX,
    MQTT_CLIENT_ID: CLIENT_ID,
  });
  const app = await createServiceApp(IcuMonitorModule.forRoot(config), config, {
    filters: [new FhirExceptionFilter()],
  });
  await connectVitalsFeed(app, config);
  await app.listen(0, '127.0.0.1');
  base = `http://127.0.0.1:${(app.getHttpServer() as { address(): AddressInfo }).address().port}`;
  return app;
}

async function call<T>(path: string, method = 'GET', body?: unknown): Promise<{ status: number; body: T }> {
  const response = await fetch(`${base}${path}`, {
    method,
    headers: {
      authorization: testAuthorizationFor(path),
      ...(body === undefined ? {} : { 'content-type': 'application/fhir+json' }),
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  return { status: response.status, body: (text === '' ? {} : JSON.parse(text)) as T };
}

async function admit(bed: BedsideBed): Promise<void> {
  const admitted = await call(`/api/beds/${bed.bedId}/admission`, 'PUT', {
    patientId: bed.patientId,
    spo2Scale: 1,
  });
  expect(admitted.status).toBe(200);
}

async function until<T>(
  what: string,
  probe: () => Promise<T>,
  done: (value: T) => boolean,
  ms = 60_000,
): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await probe();
    if (done(value)) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}: ${JSON.stringify(value)}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

const bed = (n: number, patientId: string, deteriorating: boolean): BedsideBed => ({
  bedId: `ICU-${String(n).padStart(2, '0')}`,
  patientId,
  deteriorating,
});

describe('ICU monitor: the bedside feed over MQTT', () => {
  let app: INestApplication | undefined;
  let db: Database;
  let drop: () => Promise<void>;
  let watcher: MqttClient;
  const deadLetters: DeadLetter[] = [];

  /** Observations stored whose simulator identifier starts with `tag`: rows and distinct readings. */
  const readings = async (tag: string) =>
    (
      await db.query<{ rows: number; distinct: number }>(
        `SELECT count(*)::int AS rows, count(DISTINCT content #>> '{identifier,0,value}')::int AS distinct
           FROM fhir_resource
          WHERE resource_type = 'Observation' AND content #>> '{identifier,0,value}' LIKE $1`,
        [`${tag}:%`],
      )
    )[0];

  const snapshot = async () =>
    (
      await db.query<Record<string, number>>(
        `SELECT (SELECT count(*)::int FROM fhir_resource) AS resources,
                (SELECT count(*)::int FROM fhir_search_index) AS index_rows,
                (SELECT count(*)::int FROM icu_latest_vital) AS latest,
                (SELECT count(*)::int FROM icu_news2_state) AS states`,
      )
    )[0];

  async function simulator(tag: string, beds: BedsideBed[]): Promise<BedsideSimulator> {
    const sim = new BedsideSimulator({
      url: MQTT_URL,
      prefix: PREFIX,
      beds,
      runId: `${RUN}-${tag}`,
      startAt: PAST,
    });
    await sim.connect();
    return sim;
  }

  beforeAll(async () => {
    const created = await createTestDatabase('icu-monitor', migrations);
    drop = created.drop;
    pgDatabase = created.settings.database;
    db = new Database(created.settings, 'icu-mqtt-test');
    watcher = connect(MQTT_URL, { clientId: `dead-letter-watcher-${RUN}` });
    await new Promise<void>((resolve, reject) => {
      watcher.once('connect', () => resolve());
      watcher.once('error', reject);
    });
    watcher.on('message', (_topic, payload) =>
      deadLetters.push(JSON.parse(payload.toString()) as DeadLetter),
    );
    await watcher.subscribeAsync(`${PREFIX}/dead-letter`, { qos: 1 });
    app = await startMonitor();
  }, 90_000);

  afterAll(async () => {
    await app?.close();
    await watcher?.endAsync();
    // Forget the monitor's persistent session on the broker.
    const cleaner = connect(MQTT_URL, { clientId: CLIENT_ID, clean: true });
    await new Promise<void>((resolve) => cleaner.once('connect', () => resolve()));
    await cleaner.endAsync();
    await db?.close();
    await drop?.();
  });

  it('stores and scores vitals as REST does: the same NEWS2 path, an escalation opening urgent and emergency Flags', async () => {
    const overMqtt = bed(1, `pat-mqtt-${RUN}`, true);
    const overRest = bed(2, `pat-rest-${RUN}`, true);
    await admit(overMqtt);
    await admit(overRest);
    const rounds = 11;

    const sim = await simulator('score', [overMqtt]);
    for (let round = 0; round < rounds; round++) await sim.publishRound(round);
    await sim.close();
    for (let round = 0; round < rounds; round++) {
      const values = readingsAt(round, true);
      for (const parameter of PARAMETERS) {
        const at = new Date(PAST + round * 1_000);
        const observation = bedsideObservation(
          overRest.bedId,
          overRest.patientId,
          parameter,
          values[parameter],
          at,
        );
        expect((await call('/fhir/Observation', 'POST', observation)).status).toBe(201);
      }
    }

    await until(
      'every MQTT vital stored',
      () => readings(`${RUN}-score`),
      (r) => r.rows === rounds * 7,
    );
    const totals = async (patientId: string) =>
      (
        await call<Bundle<RiskAssessment>>(
          `/fhir/RiskAssessment?patient=Patient/${patientId}&_sort=date&_count=200`,
        )
      ).body.entry
        ?.map((e) => e.resource?.extension?.find((x) => x.url === NEWS2_TOTAL)?.valueInteger)
        .sort((a, b) => (a ?? 0) - (b ?? 0));
    const flags = async (patientId: string) =>
      ((await call<Bundle<Flag>>(`/fhir/Flag?patient=Patient/${patientId}`)).body.entry ?? [])
        .filter((e) => e.resource?.status === 'active')
        .map((e) => e.resource?.code.coding?.[0]?.code)
        .sort();

    const mqttTotals = await totals(overMqtt.patientId);
    expect(mqttTotals).toEqual(await totals(overRest.patientId));
    expect(Math.max(...(mqttTotals ?? []).map(Number))).toBeGreaterThanOrEqual(7);
    expect(await flags(overMqtt.patientId)).toEqual(['news2-emergency', 'news2-urgent']);
    expect(await flags(overRest.patientId)).toEqual(['news2-emergency', 'news2-urgent']);
  });

  it('dead-letters malformed JSON, an impossible value, an unknown bed and a topic naming another bed, writing nothing', async () => {
    const patient = bed(3, `pat-refused-${RUN}`, false);
    await admit(patient);
    const before = await snapshot();
    const sim = await simulator('refused', [patient]);
    const at = new Date(PAST);
    const pulse = (bedId: string, value: number) =>
      bedsideObservation(bedId, patient.patientId, 'pulse', value, at);

    await sim.publish('ICU-03', '{"resourceType": "Observation", ');
    await sim.publish('ICU-03', pulse('ICU-03', -5));
    await sim.publish('ICU-99', pulse('ICU-99', 80));
    await sim.publish('ICU-03', pulse('ICU-04', 80));
    await sim.close();

    const letters = await until(
      'four dead letters',
      () => Promise.resolve([...deadLetters]),
      (l) => l.length >= 4,
    );
    // Messages are handled concurrently: their dead letters come in no promised order.
    const byReason = new Map(letters.map((l) => [l.reason, l]));
    expect(letters).toHaveLength(4);
    expect([...byReason].map(([reason, l]) => [l.topic, reason]).sort()).toEqual(
      [
        [`${PREFIX}/beds/ICU-03/vitals`, 'malformed-json'],
        [`${PREFIX}/beds/ICU-03/vitals`, 'impossible-value'],
        [`${PREFIX}/beds/ICU-99/vitals`, 'unknown-bed'],
        [`${PREFIX}/beds/ICU-03/vitals`, 'topic-bed-mismatch'],
      ].sort(),
    );
    expect(byReason.get('malformed-json')?.payload).toBe('{"resourceType": "Observation", ');
    expect(JSON.parse(byReason.get('unknown-bed')!.payload)).toMatchObject({
      device: { reference: 'Device/ICU-99' },
    });
    expect(await snapshot()).toEqual(before);

    const metrics = await (await fetch(`${base}/metrics`)).text();
    for (const reason of ['malformed-json', 'impossible-value', 'unknown-bed', 'topic-bed-mismatch']) {
      expect(metrics).toMatch(new RegExp(`icu_feed_dead_letters_total\\{reason="${reason}"[^}]*\\} 1\\b`));
    }
  });

  it('stores a QoS 1 burst of 504 vitals from six beds, each once', async () => {
    const beds = [4, 5, 6, 7, 8, 9].map((n) => bed(n, `pat-burst-${n}-${RUN}`, n % 2 === 0));
    for (const b of beds) await admit(b);
    const sim = await simulator('burst', beds);
    await Promise.all(Array.from({ length: 12 }, (_, round) => sim.publishRound(round)));
    await sim.close();
    expect(sim.published).toBe(504);

    await until(
      'the burst stored',
      () => readings(`${RUN}-burst`),
      (r) => r.rows >= 504,
    );
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(await readings(`${RUN}-burst`)).toEqual({ rows: 504, distinct: 504 });
  });

  it('stores a reading delivered again (the same identifier: a PUBACK lost with its connection) once, in one group or two', async () => {
    const patient = bed(11, `pat-again-${RUN}`, false);
    await admit(patient);
    const sim = await simulator('again', [patient]);
    const at = new Date(PAST);
    const reading = (n: number) =>
      bedsideObservation('ICU-11', patient.patientId, 'pulse', 70 + n, at, `${RUN}-again:${n}`);
    // Delivered twice at once (one group), then each again after it was stored (a later group).
    await Promise.all([sim.publish('ICU-11', reading(1)), sim.publish('ICU-11', reading(1))]);
    await sim.publish('ICU-11', reading(2));
    await until(
      'two readings stored',
      () => readings(`${RUN}-again`),
      (r) => r.distinct >= 2,
    );
    await sim.publish('ICU-11', reading(1));
    await sim.publish('ICU-11', reading(2));
    await sim.publish('ICU-11', reading(3));
    await sim.close();
    await until(
      'the third reading stored',
      () => readings(`${RUN}-again`),
      (r) => r.distinct >= 3,
    );
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(await readings(`${RUN}-again`)).toEqual({ rows: 3, distinct: 3 });
    expect(deadLetters.filter((l) => l.topic.endsWith('/ICU-11/vitals'))).toEqual([]);
    expect((await call('/api/beds/ICU-11/admission', 'DELETE')).status).toBe(200);
  });

  it('never acks a vital the database cannot take: retried while up, stored once after a restart', async () => {
    const patient = bed(12, `pat-transient-${RUN}`, false);
    await admit(patient);
    // The vital's transaction fails (not a refusal) while the table is away.
    await db.query('ALTER TABLE icu_latest_vital RENAME TO icu_latest_vital_away');
    try {
      const sim = await simulator('transient', [patient]);
      await sim.publishRound(0);
      await sim.close();
      await new Promise((resolve) => setTimeout(resolve, 1_000)); // a few retries
      expect(await readings(`${RUN}-transient`)).toEqual({ rows: 0, distinct: 0 });
      await app?.close(); // while retrying: the message stays unacknowledged with the broker
      app = undefined;
    } finally {
      await db.query('ALTER TABLE icu_latest_vital_away RENAME TO icu_latest_vital');
    }
    expect(deadLetters.filter((l) => l.topic.endsWith('/ICU-12/vitals'))).toEqual([]);

    app = await startMonitor();
    await until(
      'the held vitals stored',
      () => readings(`${RUN}-transient`),
      (r) => r.rows >= 7,
    );
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(await readings(`${RUN}-transient`)).toEqual({ rows: 7, distinct: 7 });
  });

  it('stores, after a restart on the same persistent session, the vitals published while the monitor was down', async () => {
    const beds = [bed(10, `pat-restart-10-${RUN}`, true), bed(11, `pat-restart-11-${RUN}`, false)];
    for (const b of beds) await admit(b);
    const sim = await simulator('restart', beds);
    const streaming = sim.run(0, 20);
    await until(
      'some vitals stored',
      () => readings(`${RUN}-restart`),
      (r) => r.rows >= 50,
    );

    await app?.close(); // mid-stream
    app = undefined;
    const storedWhileUp = (await readings(`${RUN}-restart`)).rows;
    const publishedAtStop = sim.published;
    await until(
      'vitals published while down',
      () => Promise.resolve(sim.published),
      (n) => n >= publishedAtStop + 140,
    );
    sim.stop();
    await streaming;
    await sim.close();
    expect((await readings(`${RUN}-restart`)).rows).toBe(storedWhileUp);

    app = await startMonitor();
    await until(
      'every vital stored',
      () => readings(`${RUN}-restart`),
      (r) => r.rows >= sim.published,
    );
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(await readings(`${RUN}-restart`)).toEqual({ rows: sim.published, distinct: sim.published });
  });
});
