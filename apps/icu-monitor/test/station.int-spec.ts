import { existsSync } from 'node:fs';
import type { Observation } from '@medplum/fhirtypes';
import type { INestApplication } from '@nestjs/common';
import { FhirExceptionFilter } from '@hospital/fhir';
import { createServiceApp, Database } from '@hospital/platform';
import { testServiceAuthorization } from '@hospital/platform/testing/service-auth';
import { createTestDatabase } from '@hospital/platform/testing/test-database';
import { eventually, freePort } from '@hospital/platform/testing/waiting';
import { ServiceProcess } from '../../../scripts/lib/service-process';
import { findService, serviceEntry } from '../../../scripts/services';
import { icuMonitorConfig } from '../src/config';
import { migrations as monitorMigrations } from '../src/database/migrations';
import { IcuMonitorModule } from '../src/icu-monitor.module';
import { ACVPU_SYSTEM, LOINC, OBSERVATION_CATEGORY, UCUM } from '../src/vitals/vital-codes';
import { testAuthorizationFor } from '@hospital/platform/testing/access-token';

/**
 * The ICU monitor (a Nest app in the spec) and the central monitoring station (a real process from `dist/`,
 * stopped and started like one), each over HTTP on its own fresh database: alerts reach the station by best-effort notification exactly once each after de-duplication,
 * the bedside never waits for a station that is down, retries are recorded, dead letters are replayed, and
 * a station that was away reconciles what it missed.
 */
jest.setTimeout(90_000);

interface Reply<T = Record<string, unknown>> {
  status: number;
  body: T;
}

async function call<T = Record<string, unknown>>(
  url: string,
  init: { method?: string; body?: unknown; type?: string; headers?: Record<string, string> } = {},
): Promise<Reply<T>> {
  const response = await fetch(url, {
    method: init.method ?? (init.body === undefined ? 'GET' : 'POST'),
    headers: {
      authorization: testAuthorizationFor(url),
      ...(init.body === undefined ? {} : { 'content-type': init.type ?? 'application/json' }),
      ...init.headers,
    },
    body: init.body === undefined ? undefined : JSON.stringify(init.body),
  });
  const text = await response.text();
  return { status: response.status, body: (text === '' ? {} : JSON.parse(text)) as T };
}

const T0 = Date.now() - 3_600_000;
const at = (minute: number): string => new Date(T0 + minute * 60_000).toISOString();

const QUANTITIES = { respirationRate: ['9279-1', '/min'], onOxygen: ['3151-8', 'L/min'] } as const;

function vital(
  patientId: string,
  bedId: string,
  parameter: keyof typeof QUANTITIES | 'consciousness',
  value: number | string,
  minute: number,
): Observation {
  const observation: Observation = {
    resourceType: 'Observation',
    status: 'final',
    category: [{ coding: [{ system: OBSERVATION_CATEGORY, code: 'vital-signs' }] }],
    code: {
      coding: [{ system: LOINC, code: parameter === 'consciousness' ? '67775-7' : QUANTITIES[parameter][0] }],
    },
    subject: { reference: `Patient/${patientId}` },
    device: { reference: `Device/${bedId}` },
    effectiveDateTime: at(minute),
  };
  if (parameter === 'consciousness') {
    observation.valueCodeableConcept = { coding: [{ system: ACVPU_SYSTEM, code: String(value) }] };
  } else {
    const unit = QUANTITIES[parameter][1];
    observation.valueQuantity = { value: Number(value), unit, system: UCUM, code: unit };
  }
  return observation;
}

interface StationAlert {
  receipt: string;
  idempotencyKey: string;
  alertId: string;
  level: string;
  flagLevel: string;
  bedId: string;
  news2Total: number;
  via: string;
}

interface ListedNotification {
  id: string;
  idempotencyKey: string;
  state: string;
  payload: { alertId: string; level: string; bedId: string };
}

interface Detail {
  state: string;
  attemptRecords: { outcome?: string; error?: string }[];
}

/** Short retry settings: the spec waits for retries in milliseconds, not minutes. */
const RETRIES = {
  NOTIFICATION_POLL_MS: '50',
  NOTIFICATION_BASE_DELAY_MS: '50',
  NOTIFICATION_MAX_DELAY_MS: '200',
  NOTIFICATION_ATTEMPT_TIMEOUT_MS: '1000',
  NOTIFICATION_LEASE_MS: '3000',
};

describe('ICU alerts to the central monitoring station', () => {
  const drops: (() => Promise<void>)[] = [];
  let monitorDb: string;
  let stationDb: Database;
  let stationDbName: string;
  let monitorPort: number;
  let stationPort: number;
  let monitor: INestApplication | undefined;
  let station: ServiceProcess | undefined;
  let monitorUrl: string;
  let stationUrl: string;

  async function startMonitor(env: Record<string, string> = {}): Promise<void> {
    const config = icuMonitorConfig({
      ...process.env,
      PGDATABASE: monitorDb,
      LOG_LEVEL: 'error',
      ICU_STATION_URL: stationUrl,
      NOTIFICATION_MAX_ATTEMPTS: '1000',
      ...RETRIES,
      ...env,
    });
    monitor = await createServiceApp(IcuMonitorModule.forRoot(config), config, {
      filters: [new FhirExceptionFilter()],
    });
    await monitor.listen(monitorPort, '127.0.0.1');
  }

  async function startStation(env: Record<string, string> = {}): Promise<void> {
    station = await ServiceProcess.start({
      name: 'icu-station',
      entry: serviceEntry('icu-station'),
      port: stationPort,
      env: {
        ...process.env,
        PORT: String(stationPort),
        PGDATABASE: stationDbName,
        LOG_LEVEL: 'error',
        ICU_MONITOR_URL: monitorUrl,
        STATION_RECONCILE: 'false',
        ...env,
      },
    });
  }

  async function stopStation(): Promise<void> {
    await station?.stop();
    station = undefined;
  }

  const post = (
    patient: string,
    bed: string,
    parameter: Parameters<typeof vital>[2],
    value: number | string,
    minute: number,
  ) =>
    call(`${monitorUrl}/fhir/Observation`, {
      body: vital(patient, bed, parameter, value, minute),
      type: 'application/fhir+json',
    });

  const admit = async (bedId: string, patientId: string) =>
    expect(
      (
        await call(`${monitorUrl}/api/beds/${bedId}/admission`, {
          method: 'PUT',
          body: { patientId, spo2Scale: 1 },
        })
      ).status,
    ).toBe(200);

  const stationAlerts = async (query = ''): Promise<StationAlert[]> => {
    const listed = await call<{ alerts: StationAlert[] }>(`${stationUrl}/api/alerts?limit=500${query}`);
    expect(listed.status).toBe(200);
    return listed.body.alerts;
  };

  /** The monitor's notifications to the station (reconciliation lists every state, with payloads). */
  const notifications = async (): Promise<ListedNotification[]> => {
    const listed = await call<{ notifications: ListedNotification[] }>(
      `${monitorUrl}/api/notifications?receiver=monitoring-station&limit=1000`,
    );
    expect(listed.status).toBe(200);
    return listed.body.notifications;
  };

  const notificationsOfBed = async (bedId: string) =>
    (await notifications()).filter((n) => n.payload.bedId === bedId);

  const detail = async (id: string) => (await call<Detail>(`${monitorUrl}/api/notifications/${id}`)).body;

  /** Rows the station holds for a key: what the de-duplication must keep at one. */
  const storedWithKey = async (key: string): Promise<number> =>
    (
      await stationDb.query<{ n: number }>(
        'SELECT count(*)::int AS n FROM icu_station_alert WHERE idempotency_key = $1',
        [key],
      )
    )[0].n;

  beforeAll(async () => {
    if (!existsSync(serviceEntry('icu-station')))
      throw new Error('the station runs from dist/: build it first (node scripts/build.mjs)');
    const m = await createTestDatabase('icu-monitor', monitorMigrations);
    const s = await createTestDatabase('icu-station', [...findService('icu-station').migrations]);
    drops.push(m.drop, s.drop);
    monitorDb = m.settings.database;
    stationDbName = s.settings.database;
    stationDb = new Database(s.settings, 'icu-station-test');
    [monitorPort, stationPort] = [await freePort(), await freePort()];
    monitorUrl = `http://127.0.0.1:${monitorPort}`;
    stationUrl = `http://127.0.0.1:${stationPort}`;
    await startStation();
    await startMonitor();
  }, 120_000);

  afterAll(async () => {
    await monitor?.close();
    await station?.stop();
    await stationDb?.close();
    for (const drop of drops) await drop();
  });

  it('records a deteriorating patient’s urgent and emergency alerts exactly once each, and their resolutions', async () => {
    await admit('ICU-01', 'pat-deteriorating');
    const steps: [Parameters<typeof vital>[2], number | string][] = [
      ['consciousness', 'C'], // new confusion scores 3: urgent
      ['onOxygen', 2], // 3 + 2 = 5: still urgent
      ['respirationRate', 26], // + 3 = 8: emergency
      ['respirationRate', 16], // 5: emergency resolved, urgent holds
      ['consciousness', 'A'], // 2: urgent resolved
    ];
    for (const [i, [parameter, value]] of steps.entries())
      expect((await post('pat-deteriorating', 'ICU-01', parameter, value, i + 1)).status).toBe(201);

    const sent = await eventually(
      () => notificationsOfBed('ICU-01'),
      (listed) => listed.length === 4 && listed.every((n) => n.state === 'delivered'),
    );
    expect(sent.map((n) => [n.payload.level, n.state])).toEqual([
      ['urgent', 'delivered'],
      ['emergency', 'delivered'],
      ['resolved', 'delivered'],
      ['resolved', 'delivered'],
    ]);
    const received = await stationAlerts('&bedId=ICU-01');
    // Newest first; one row per transition, each under the monitor's key. The two resolutions come from
    // one vital and are delivered side by side: best-effort delivery promises no order between them.
    const rows = received.map((a) => [a.level, a.flagLevel, a.news2Total, a.via]);
    expect(rows.slice(0, 2).sort()).toEqual([
      ['resolved', 'emergency', 5, 'push'],
      ['resolved', 'urgent', 2, 'push'],
    ]);
    expect(rows.slice(2)).toEqual([
      ['emergency', 'emergency', 8, 'push'],
      ['urgent', 'urgent', 3, 'push'],
    ]);
    expect(received.map((a) => a.idempotencyKey).sort()).toEqual(sent.map((n) => n.idempotencyKey).sort());
    const [urgent, emergency] = sent;
    expect(urgent.idempotencyKey).toBe(`${urgent.payload.alertId}:opened`);
    expect(received.find((a) => a.level === 'resolved' && a.flagLevel === 'emergency')?.idempotencyKey).toBe(
      `${emergency.payload.alertId}:closed`,
    );
    for (const n of sent) expect(await storedWithKey(n.idempotencyKey)).toBe(1);
    expect((await stationAlerts('&level=emergency')).map((a) => a.alertId)).toEqual([
      emergency.payload.alertId,
    ]);
    const paged = await call<{ total: number; alerts: StationAlert[] }>(
      `${stationUrl}/api/alerts?bedId=ICU-01&limit=2&offset=2`,
    );
    expect(paged.body.total).toBe(4);
    expect(paged.body.alerts.map((a) => a.level)).toEqual(['emergency', 'urgent']);
  });

  it('never holds up a vital while the station is down: retries, then delivers once it is back', async () => {
    await admit('ICU-02', 'pat-down');
    await stopStation();
    const started = Date.now();
    expect((await post('pat-down', 'ICU-02', 'consciousness', 'V', 1)).status).toBe(201);
    // A vital takes milliseconds; a call that waited on the station would take its 1 s time-out or more.
    expect(Date.now() - started).toBeLessThan(1_000);

    const [written] = await eventually(
      () => notificationsOfBed('ICU-02'),
      (listed) => listed.length === 1,
    );
    expect(written.state).toBe('pending');
    const retried = await eventually(
      () => detail(written.id),
      (d) => d.attemptRecords.filter((a) => a.outcome === 'failed').length >= 3,
    );
    expect(retried.state).toBe('pending');
    expect(retried.attemptRecords.slice(0, 3).map((a) => a.outcome)).toEqual(['failed', 'failed', 'failed']);
    expect(await storedWithKey(written.idempotencyKey)).toBe(0);

    await startStation();
    const delivered = await eventually(
      () => detail(written.id),
      (d) => d.state === 'delivered',
    );
    expect(delivered.state).toBe('delivered');
    expect(delivered.attemptRecords[delivered.attemptRecords.length - 1].outcome).toBe('delivered');
    expect(await storedWithKey(written.idempotencyKey)).toBe(1);
    expect((await stationAlerts('&bedId=ICU-02')).map((a) => [a.level, a.via])).toEqual([['urgent', 'push']]);
  });

  describe('POST /internal/alerts', () => {
    const alert = {
      alertId: 'flag-dup-1',
      level: 'urgent',
      flagLevel: 'urgent',
      bedId: 'ICU-09',
      patientId: 'pat-dup',
      assessmentId: 'ra-dup-1',
      news2Total: 5,
      effectiveAt: at(1),
    };
    const deliver = (body: unknown, headers: Record<string, string>) =>
      call<Record<string, unknown>>(`${stationUrl}/internal/alerts`, { body, headers });
    const asMonitor = (key?: string) => ({
      authorization: testServiceAuthorization('icu-monitor', 'icu-station'),
      ...(key === undefined ? {} : { 'idempotency-key': key }),
    });

    it('records the same key once: a repeat answers 200 with the original receipt', async () => {
      const first = await deliver(alert, asMonitor('flag-dup-1:opened'));
      expect(first.status).toBe(201);
      expect(first.body).toMatchObject({ idempotencyKey: 'flag-dup-1:opened', duplicate: false });
      const again = await deliver(alert, asMonitor('flag-dup-1:opened'));
      expect(again.status).toBe(200);
      expect(again.body).toEqual({ ...first.body, duplicate: true });
      expect(await storedWithKey('flag-dup-1:opened')).toBe(1);
    });

    it('refuses a key reused for another alert, a missing key, a bad body and a caller without a token', async () => {
      const reused = await deliver({ ...alert, alertId: 'flag-other' }, asMonitor('flag-dup-1:opened'));
      expect(reused.status).toBe(409);
      // Not an /api route: the platform's filter answers an OperationOutcome.
      expect(reused.body).toMatchObject({ resourceType: 'OperationOutcome', issue: [{ code: 'conflict' }] });
      expect((await deliver(alert, asMonitor())).status).toBe(400);
      expect((await deliver({ ...alert, level: 'panic' }, asMonitor('k-bad-level'))).status).toBe(400);
      expect((await deliver({ ...alert, name: 'Jane Doe' }, asMonitor('k-extra'))).status).toBe(400);
      expect((await deliver(alert, { 'idempotency-key': 'k-no-token' })).status).toBe(401);
      const forOther = {
        authorization: testServiceAuthorization('icu-monitor', 'lis'),
        'idempotency-key': 'k-aud',
      };
      expect((await deliver(alert, forOther)).status).toBe(403);
      for (const key of ['k-bad-level', 'k-extra', 'k-no-token', 'k-aud'])
        expect(await storedWithKey(key)).toBe(0);
      expect((await call(`${stationUrl}/api/alerts?level=panic`)).status).toBe(400);
    });
  });

  describe('with two attempts per round', () => {
    beforeAll(async () => {
      await monitor?.close();
      await startMonitor({ NOTIFICATION_MAX_ATTEMPTS: '2' });
    });

    it('dead-letters an alert the station never took, and delivers it once replayed', async () => {
      await admit('ICU-03', 'pat-dead-letter');
      await stopStation();
      expect((await post('pat-dead-letter', 'ICU-03', 'consciousness', 'P', 1)).status).toBe(201);
      const [written] = await eventually(
        () => notificationsOfBed('ICU-03'),
        (listed) => listed.length === 1,
      );
      const dead = await eventually(
        () => call<{ id: string; attempts: number }[]>(`${monitorUrl}/api/notifications/dead-letters`),
        (answer) => answer.body.some((d) => d.id === written.id),
      );
      expect(dead.body.find((d) => d.id === written.id)).toMatchObject({ attempts: 2 });
      expect((await detail(written.id)).state).toBe('dead-lettered');

      await startStation();
      const replayed = await call(`${monitorUrl}/api/notifications/dead-letters/${written.id}/replay`, {
        method: 'POST',
      });
      expect(replayed.status).toBe(200);
      expect(
        (
          await eventually(
            () => detail(written.id),
            (d) => d.state === 'delivered',
          )
        ).state,
      ).toBe('delivered');
      expect(await storedWithKey(written.idempotencyKey)).toBe(1);
    });

    it('a station that was away reconciles the alerts it missed, once, from its cursor', async () => {
      await admit('ICU-04', 'pat-missed');
      await stopStation();
      expect((await post('pat-missed', 'ICU-04', 'consciousness', 'U', 1)).status).toBe(201);
      const [written] = await eventually(
        () => notificationsOfBed('ICU-04'),
        (listed) => listed.length === 1 && listed[0].state === 'dead-lettered',
      );
      expect(written.state).toBe('dead-lettered');

      // Started with reconciliation: it asks the monitor at start, from the start (no cursor yet).
      await startStation({
        STATION_RECONCILE: 'true',
        STATION_RECONCILE_INTERVAL_MS: '0',
        STATION_RECONCILE_PAGE: '2',
      });
      const missed = await eventually(
        () => stationAlerts('&bedId=ICU-04'),
        (alerts) => alerts.length === 1,
      );
      expect(missed.map((a) => [a.idempotencyKey, a.level, a.via])).toEqual([
        [written.idempotencyKey, 'urgent', 'reconciliation'],
      ]);
      expect(await storedWithKey(written.idempotencyKey)).toBe(1);

      // Everything delivered before is held already; from the cursor stored, nothing is new.
      const again = await call<{ recorded: number; fetched: number; cursor: string }>(
        `${stationUrl}/api/alerts/reconcile`,
        { method: 'POST' },
      );
      expect(again.status).toBe(200);
      expect(again.body).toMatchObject({ recorded: 0, fetched: 0 });
      const cursor = await stationDb.query<{ cursor: string }>(
        `SELECT cursor FROM icu_station_cursor WHERE source = 'icu-monitor'`,
      );
      expect(cursor[0].cursor).toBe(again.body.cursor);
    });
  });
});
