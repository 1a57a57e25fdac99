import { randomBytes } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import type { Resource } from '@medplum/fhirtypes';
import type { INestApplication } from '@nestjs/common';
import { FhirExceptionFilter, FhirResourceStore, SearchParameterRegistry } from '@hospital/fhir';
import { createServiceApp, Database, type DatabaseSettings } from '@hospital/platform';
import { createTestDatabase } from '@hospital/platform/testing/test-database';
import { deleteCarePlanNamespace, deleteKeysUnder } from '../../../../scripts/lib/care-plan-cluster';
import { type ExitInfo, ServiceProcess } from '../../../../scripts/lib/service-process';
import { findService, serviceEntry } from '../../../../scripts/services';
import { CarePlansModule } from '../../src/care-plans.module';
import { carePlansConfig } from '../../src/config';
import { migrations } from '../../src/database/migrations';
import { PlanEngines } from '../../src/plans/plan-engines';
import type { Participant } from '../../src/plans/treatment-plan';
import { testAuthorizationFor } from '@hospital/platform/testing/access-token';

/** The services a plan's participants and its checks run on, by their registered names. */
export type PeerName = 'emr' | 'appointments' | 'pacs' | 'pharmacy-inventory';
export const PARTICIPANT_SERVICE: Record<Participant, PeerName> = {
  appointments: 'appointments',
  pacs: 'pacs',
  pharmacy: 'pharmacy-inventory',
};

/** One peer: a real process from `dist/` on its own fresh database. */
export interface Peer {
  name: PeerName;
  url: string;
  db: Database;
  settings: DatabaseSettings;
  process: ServiceProcess;
}

export interface Reply<T = Record<string, unknown>> {
  status: number;
  headers: Headers;
  body: T;
}

/** A JSON request; bodies go as `application/fhir+json` unless `type` says otherwise. */
export async function call<T = Record<string, unknown>>(
  url: string,
  init: { method?: string; body?: unknown; type?: string; headers?: Record<string, string> } = {},
): Promise<Reply<T>> {
  const response = await fetch(url, {
    method: init.method ?? (init.body === undefined ? 'GET' : 'POST'),
    headers: {
      authorization: testAuthorizationFor(url),
      ...(init.body === undefined ? {} : { 'content-type': init.type ?? 'application/fhir+json' }),
      ...init.headers,
    },
    body: init.body === undefined ? undefined : JSON.stringify(init.body),
  });
  const text = await response.text();
  return {
    status: response.status,
    headers: response.headers,
    body: (text === '' ? {} : JSON.parse(text)) as T,
  };
}

export interface HospitalOptions {
  /** First of the ports this spec may use (the care-plans range is 3750–3799). */
  basePort: number;
  /** care-plans in this process (a Nest app) or as a real process from `dist/` that a fault may kill. */
  carePlans: 'in-process' | 'process';
  /** Extra environment of care-plans (FAULT_KILL_AT, time-outs). */
  env?: Record<string, string>;
}

/**
 * A small hospital for care-plans' specs, over real HTTP: the EMR (patients and practitioners), the three
 * participants — appointments, the PACS, the pharmacy's inventory — as real processes from `dist/` (built
 * by `node scripts/build.mjs`), and care-plans itself, each on its own fresh database; RabbitMQ names
 * under a namespace of the spec's own.
 */
export class CarePlansHospital {
  readonly peers = {} as Record<PeerName, Peer>;
  carePlans!: {
    url: string;
    db: Database;
    settings: DatabaseSettings;
    app?: INestApplication;
    process?: ServiceProcess;
  };
  private readonly drops: (() => Promise<void>)[] = [];
  private readonly namespace = `cp${randomBytes(4).toString('hex')}`;

  private constructor(private readonly options: HospitalOptions) {}

  static async start(options: HospitalOptions): Promise<CarePlansHospital> {
    const hospital = new CarePlansHospital(options);
    try {
      await hospital.boot();
    } catch (error) {
      await hospital.close();
      throw error;
    }
    return hospital;
  }

  private port(offset: number): number {
    return this.options.basePort + offset;
  }

  private get common(): Record<string, string> {
    return {
      LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'error',
      MESSAGING_NAMESPACE: this.namespace,
      TX_RECOVERY_INTERVAL_MS: '500',
      // Quota caches borrow a few units at a time: a quota-saga plan leaves the rest to saga and TCC plans.
      QUOTA_LEND_CHUNK: '5',
      EMR_URL: `http://127.0.0.1:${this.port(1)}`,
      APPOINTMENTS_URL: `http://127.0.0.1:${this.port(2)}`,
      PACS_URL: `http://127.0.0.1:${this.port(3)}`,
      PHARMACY_INVENTORY_URL: `http://127.0.0.1:${this.port(4)}`,
    };
  }

  private async boot(): Promise<void> {
    const names: PeerName[] = ['emr', 'appointments', 'pacs', 'pharmacy-inventory'];
    await Promise.all(names.map((name, i) => this.startPeer(name, this.port(i + 1))));
    const created = await createTestDatabase('care-plans', migrations);
    this.drops.push(created.drop);
    const url = `http://127.0.0.1:${this.port(0)}`;
    this.carePlans = {
      url,
      settings: created.settings,
      db: new Database(created.settings, 'care-plans-test'),
    };
    await this.startCarePlans();
  }

  /** Starts care-plans (again, after a kill): in this process or as a process, on its own port and database. */
  async startCarePlans(env: Record<string, string> = {}): Promise<void> {
    const all = {
      ...this.common,
      PORT: String(this.port(0)),
      PGDATABASE: this.carePlans.settings.database,
      CARE_PLAN_CALL_TIMEOUT_MS: '3000',
      CARE_PLAN_LEASE_MS: '6000',
      ...this.options.env,
      ...env,
    };
    if (this.options.carePlans === 'process') {
      this.carePlans.process = await ServiceProcess.start({
        name: 'care-plans',
        entry: serviceEntry('care-plans'),
        env: { ...process.env, ...all },
        port: this.port(0),
      });
      return;
    }
    const config = carePlansConfig({ ...process.env, ...all });
    const app = await createServiceApp(CarePlansModule.forRoot(config), config, {
      filters: [new FhirExceptionFilter()],
    });
    await app.listen(this.port(0), '127.0.0.1');
    const port = (app.getHttpServer() as { address(): AddressInfo }).address().port;
    this.carePlans.url = `http://127.0.0.1:${port}`;
    this.carePlans.app = app;
  }

  private async startPeer(name: PeerName, port: number): Promise<void> {
    const created = await createTestDatabase(name, [...findService(name).migrations]);
    this.drops.push(created.drop);
    const db = new Database(created.settings, `${name}-test`);
    const started = await ServiceProcess.start({
      name,
      entry: serviceEntry(name),
      env: {
        ...process.env,
        ...this.common,
        PORT: String(port),
        PGDATABASE: created.settings.database,
        QUOTA_KEY_PREFIX: this.quotaKeyPrefix(name),
      },
      port,
    });
    this.peers[name] = {
      name,
      url: `http://127.0.0.1:${port}`,
      db,
      settings: created.settings,
      process: started,
    };
  }

  /**
   * Starts the care-plans process again with `env`, its recovery sweeps then taking over what the old one
   * left. The old one is stopped gracefully, or, when it is `dying` at a fault point, given 10 s to die;
   * resolves with its exit when it died by itself (undefined when it had to be stopped).
   */
  async restartCarePlans(env: Record<string, string> = {}, dying = false): Promise<ExitInfo | undefined> {
    const old = this.carePlans.process;
    const exit = old !== undefined && dying ? await old.waitForExit(10_000) : undefined;
    if (old !== undefined && exit === undefined) await old.stop();
    await this.startCarePlans(env);
    return exit;
  }

  /** One recovery sweep of the in-process care-plans' engines now. */
  async recoverNow(): Promise<void> {
    await this.carePlans.app?.get(PlanEngines).recoverNow();
  }

  /**
   * Patients and practitioners in the EMR's database (as the demo seeds them): the EMR's FHIR reads serve
   * them as they serve its own records.
   */
  async seedEmr(resources: Resource[]): Promise<void> {
    const store = new FhirResourceStore(
      new SearchParameterRegistry({ Patient: ['_id'], Practitioner: ['_id'] }),
    );
    await this.peers.emr.db.transaction(async (tx) => {
      for (const resource of resources) await store.upsertCopy(tx, resource);
    });
  }

  /**
   * `n` free 15-minute slots from 08:00 (UTC) on `day`, of a fresh schedule of `practitionerId` at
   * appointments (which registers each as the capacity `slot:<id>`); their ids.
   */
  async createSlots(practitionerId: string, day: string, n: number): Promise<string[]> {
    const base = this.peers.appointments.url;
    const serviceType = [
      { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/service-type', code: '57' }] },
    ];
    const schedule = await call<{ id: string }>(`${base}/fhir/Schedule`, {
      body: {
        resourceType: 'Schedule',
        active: true,
        actor: [{ reference: `Practitioner/${practitionerId}` }],
        serviceType,
        planningHorizon: { start: `${day}T00:00:00Z`, end: `${day}T23:59:59Z` },
      },
    });
    if (schedule.status !== 201) throw new Error(`appointments refused a schedule: ${schedule.status}`);
    const at = (minutes: number) => new Date(Date.parse(`${day}T08:00:00Z`) + minutes * 60_000).toISOString();
    const made: string[] = [];
    for (let i = 0; i < n; i++) {
      const slot = await call<{ id: string }>(`${base}/fhir/Slot`, {
        body: {
          resourceType: 'Slot',
          schedule: { reference: `Schedule/${schedule.body.id}` },
          status: 'free',
          start: at(15 * i),
          end: at(15 * i + 15),
          serviceType,
        },
      });
      if (slot.status !== 201) throw new Error(`appointments refused a slot: ${slot.status}`);
      made.push(slot.body.id);
    }
    return made;
  }

  /** Sets a resource's capacity at its participant (`PUT /api/capacity/resources/:resource`). */
  async offer(participant: Participant, resource: string, capacity: number): Promise<void> {
    const peer = this.peers[PARTICIPANT_SERVICE[participant]];
    const reply = await call(`${peer.url}/api/capacity/resources/${encodeURIComponent(resource)}`, {
      method: 'PUT',
      body: { capacity },
      type: 'application/json',
    });
    if (reply.status !== 200 && reply.status !== 201)
      throw new Error(
        `${peer.name} refused capacity for ${resource}: ${reply.status} ${JSON.stringify(reply.body)}`,
      );
  }

  /** A resource's level at its participant, or undefined when it does not offer it. */
  async level(
    participant: Participant,
    resource: string,
  ): Promise<{ capacity: number; taken: number; held: number; lent: number; available: number } | undefined> {
    const peer = this.peers[PARTICIPANT_SERVICE[participant]];
    const reply = await call<{
      capacity: number;
      taken: number;
      held: number;
      lent: number;
      available: number;
    }>(`${peer.url}/api/capacity/resources/${encodeURIComponent(resource)}`);
    if (reply.status === 404) return undefined;
    if (reply.status !== 200) throw new Error(`${peer.name} answered ${reply.status} for ${resource}`);
    return reply.body;
  }

  /** The claims one plan's transaction made at a participant. */
  async claims(
    participant: Participant,
    gtid: string,
  ): Promise<{ key: string; resource: string | null; units: number; mode: string; state: string }[]> {
    const peer = this.peers[PARTICIPANT_SERVICE[participant]];
    const reply = await call<
      { key: string; resource: string | null; units: number; mode: string; state: string }[]
    >(`${peer.url}/api/capacity/claims?gtid=${encodeURIComponent(gtid)}`);
    if (reply.status !== 200)
      throw new Error(`${peer.name} answered ${reply.status} for the claims of ${gtid}`);
    return reply.body;
  }

  async close(): Promise<void> {
    await this.carePlans?.app?.close();
    await this.carePlans?.process?.stop();
    await this.carePlans?.db.close();
    await Promise.all(
      Object.values(this.peers).map(async (peer) => {
        await peer.process.stop();
        await peer.db.close();
      }),
    );
    for (const drop of this.drops) await drop();
    // Its quorum queues too: a broker left with hundreds of them stops accepting connections.
    await deleteCarePlanNamespace(this.namespace);
    // And its quota caches' keys: a later run's fresh databases must not meet this run's epochs.
    await deleteKeysUnder(Object.keys(this.peers).map((name) => this.quotaKeyPrefix(name as PeerName)));
  }

  /** The Redis key prefix of a peer's quota cache in this spec (`QUOTA_KEY_PREFIX`). */
  quotaKeyPrefix(name: PeerName): string {
    return `${this.namespace}:${name}:quota:`;
  }
}
