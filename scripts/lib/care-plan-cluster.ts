// The treatment-plan workflow's services as the bench and the fault runner run them: care-plans, the EMR
// it checks patients and practitioners against, and the three participants (appointments, pacs, pharmacy
// inventory), each a real process on its own port and a fresh database (`hospital_<service>_<suffix>`),
// RabbitMQ names under a namespace of the run and Redis keys under a prefix of the run.
import { randomBytes } from 'node:crypto';
import type { Resource } from '@medplum/fhirtypes';
import { Redis } from 'ioredis';
import { FhirResourceStore, SearchParameterRegistry } from '@hospital/fhir';
import { Database, serviceDatabaseName } from '@hospital/platform';
import { quotaCompletionsConsumer } from '@hospital/transactions/nest/quota-completions.handler';
import { QUOTA_COMPLETIONS_EXCHANGE } from '@hospital/transactions/quota-cache/completion-messages';
import { endpointsFromEnv, ensureDatabases } from '../infra/index';
import { findService, repositoryRoot, serviceEntry, serviceEnv, devAuthorizationFor } from '../services';
import { createSchedule, createSlots, SERVICE_TYPE_SYSTEM } from './appointments-seeding';
import { postgresEndpoint, withClient } from './bench-cluster';
import { failureSummary, getJson, postFhir, type PostOptions } from './bench-http';
import { deleteNamespace } from './pharmacy-cluster';
import { type ExitInfo, ServiceProcess } from './service-process';

export type PlanMode = 'saga' | 'quota-saga' | 'tcc';
export const PLAN_MODES: readonly PlanMode[] = ['saga', 'quota-saga', 'tcc'];

/** The processes of a run, by the names scripts/services.ts registers. */
export type PlanServiceName = 'care-plans' | 'emr' | 'appointments' | 'pacs' | 'pharmacy-inventory';
export const PLAN_SERVICES: readonly PlanServiceName[] = [
  'emr',
  'appointments',
  'pacs',
  'pharmacy-inventory',
  'care-plans',
];
/** The participant behind each capacity kind. */
export const PARTICIPANT_OF = { slot: 'appointments', imaging: 'pacs', drug: 'pharmacy-inventory' } as const;

const DICOM_SYSTEM = 'http://dicom.nema.org/resources/ontology/DCM';
const RXNORM_SYSTEM = 'http://www.nlm.nih.gov/research/umls/rxnorm';
const SLOT_EXTENSION = 'urn:hospital:care-plans:slot';
const SERVICE_TYPE = { system: SERVICE_TYPE_SYSTEM, code: '57' };
const DAY_MS = 86_400_000;
const FIRST_DAY = Date.UTC(2027, 0, 4);

/** Deletes every key under each prefix of ARGV (no glob characters in them), atomically; the count. */
const DELETE_PREFIXES_LUA = `
local n = 0
for _, prefix in ipairs(ARGV) do
  local keys = redis.call('KEYS', prefix .. '*')
  for i = 1, #keys, 1000 do
    n = n + redis.call('UNLINK', unpack(keys, i, math.min(i + 999, #keys)))
  end
end
return n`;

const quoteIdent = (name: string): string => `"${name.replace(/"/g, '""')}"`;

export interface ClusterOptions {
  /** First of six consecutive ports (care-plans, then the EMR and the participants). */
  basePort: number;
  /** Database suffix: `hospital_<service>_<suffix>`. */
  suffix: string;
  log: (line: string) => void;
  /** Extra environment for every service, and for one. */
  env?: Record<string, string>;
  envOf?: Partial<Record<PlanServiceName, Record<string, string>>>;
  execArgv?: string[];
}

/** One treatment plan as the bench and the fault runs send it. */
export interface PlanSpec {
  slotId: string;
  practitionerId: string;
  imaging: { modality: string; day: string };
  regimen: { drugCode: string; location: string; quantity: number };
}

export class CarePlanCluster {
  readonly processes = {} as Record<PlanServiceName, ServiceProcess>;
  readonly run = randomBytes(3).toString('hex');
  readonly namespace: string;
  readonly patientId = 'pat-bench-0001';
  readonly practitionerIds = ['prac-bench-im', 'prac-bench-surg', 'prac-bench-rad'];
  careTeamId = '';
  private scheduleId = '';
  private nextSlotDay = 0;

  constructor(private readonly options: ClusterOptions) {
    this.namespace = `cpb${this.run}`;
  }

  port(service: PlanServiceName): number {
    return this.options.basePort + PLAN_SERVICES.indexOf(service);
  }

  url(service: PlanServiceName): string {
    return `http://127.0.0.1:${this.port(service)}`;
  }

  database(service: PlanServiceName): string {
    return serviceDatabaseName(service, this.options.suffix);
  }

  /** Drops and re-creates every service's database, migrates them, starts the services, seeds the team. */
  async start(): Promise<void> {
    for (const service of PLAN_SERVICES)
      await withClient('postgres', (admin) =>
        admin.query(`DROP DATABASE IF EXISTS ${quoteIdent(this.database(service))} WITH (FORCE)`),
      );
    await ensureDatabases(
      endpointsFromEnv(),
      PLAN_SERVICES.map((s) => ({ database: this.database(s), migrations: findService(s).migrations })),
      () => undefined,
    );
    await Promise.all(PLAN_SERVICES.filter((s) => s !== 'care-plans').map((s) => this.startService(s)));
    await this.startService('care-plans');
    this.options.log(
      `fresh databases *_${this.options.suffix}; services on ${this.options.basePort}–${this.options.basePort + 4}, namespace ${this.namespace}`,
    );
    await this.seedTeam();
  }

  /** The environment of one service: its port and database, its peers on this run's ports. */
  envOf(service: PlanServiceName, extra: Record<string, string> = {}): NodeJS.ProcessEnv {
    const urls = Object.fromEntries(
      PLAN_SERVICES.map((s) => [`${s.toUpperCase().replace(/-/g, '_')}_URL`, this.url(s)]),
    );
    return serviceEnv(service, {
      ...urls,
      PORT: String(this.port(service)),
      HOST: '127.0.0.1',
      PGDATABASE: this.database(service),
      LOG_LEVEL: 'warn',
      MESSAGING_NAMESPACE: this.namespace,
      QUOTA_KEY_PREFIX: this.quotaKeyPrefix(service),
      ...this.options.env,
      ...this.options.envOf?.[service],
      ...extra,
    });
  }

  async startService(service: PlanServiceName, extra: Record<string, string> = {}): Promise<ServiceProcess> {
    const started = await ServiceProcess.start({
      name: service,
      entry: serviceEntry(service),
      execArgv: this.options.execArgv,
      env: this.envOf(service, extra),
      port: this.port(service),
      cwd: repositoryRoot(),
    });
    this.processes[service] = started;
    return started;
  }

  /** Stops every service, then deletes the run's RabbitMQ queues and exchanges and its quota-cache keys. */
  async stop(): Promise<void> {
    await Promise.all(Object.values(this.processes).map((p) => p.stop()));
    await deleteCarePlanNamespace(this.namespace);
    await this.deleteQuotaKeys();
  }

  /** SIGKILLs a service (the fault runner's participant kill); its exit. Start it again with `startService`. */
  kill(service: PlanServiceName): Promise<ExitInfo> {
    return this.processes[service].kill();
  }

  /** Stops a service gracefully if it still runs, and starts it again with `extra` (e.g. FAULT_KILL_AT). */
  async restart(service: PlanServiceName, extra: Record<string, string> = {}): Promise<ServiceProcess> {
    await this.processes[service]?.stop();
    return this.startService(service, extra);
  }

  /** The Redis key prefix of a service's quota cache in this run (`QUOTA_KEY_PREFIX`). */
  quotaKeyPrefix(service: PlanServiceName): string {
    return `cpb:${this.run}:${service}:`;
  }

  /**
   * Deletes every key of the participants' quota caches in this run at one instant, as a Redis that lost
   * its data shows them (one script: no cache operation sees part of a resource's keys gone); the number
   * deleted. Only the run's own prefixes: the Redis is shared, never FLUSHALL.
   */
  deleteQuotaKeys(): Promise<number> {
    return deleteKeysUnder(this.participantDatabases().map(({ service }) => this.quotaKeyPrefix(service)));
  }

  /** The patient and the team's practitioners in the EMR (as its record updates would copy them), and the CareTeam. */
  private async seedTeam(): Promise<void> {
    const endpoint = postgresEndpoint();
    const emr = new Database({ ...endpoint, database: this.database('emr'), poolSize: 1 }, 'care-plan-bench');
    try {
      const store = new FhirResourceStore(
        new SearchParameterRegistry({ Patient: ['_id'], Practitioner: ['_id'] }),
      );
      const resources: Resource[] = [
        { resourceType: 'Patient', id: this.patientId, name: [{ family: 'Bench', given: ['Plan'] }] },
        ...this.practitionerIds.map((id): Resource => ({
          resourceType: 'Practitioner',
          id,
          name: [{ family: id }],
        })),
      ];
      await emr.transaction(async (tx) => {
        for (const resource of resources) await store.upsertCopy(tx, resource);
      });
    } finally {
      await emr.close();
    }
    const team = await postFhir(`${this.url('care-plans')}/fhir/CareTeam`, {
      resourceType: 'CareTeam',
      status: 'active',
      name: 'Multidisciplinary team',
      subject: { reference: `Patient/${this.patientId}` },
      participant: this.practitionerIds.map((id) => ({ member: { reference: `Practitioner/${id}` } })),
    });
    if (team.status !== 201) throw new Error(`creating the CareTeam: ${failureSummary(team)}`);
    this.careTeamId = (JSON.parse(team.body) as { id: string }).id;
    this.scheduleId = await createSchedule(
      this.url('appointments'),
      this.practitionerIds[0],
      SERVICE_TYPE,
      FIRST_DAY,
      FIRST_DAY + 3650 * DAY_MS,
    );
  }

  /** `count` new free consult slots (whole days of 15-minute slots); their ids. */
  async createSlots(count: number): Promise<string[]> {
    const perDay = 96;
    const days = Math.ceil(count / perDay);
    const from = this.nextSlotDay;
    this.nextSlotDay += days;
    const work = Array.from({ length: days }, (_, i) => from + i);
    let next = 0;
    const seeder = async (): Promise<void> => {
      while (next < work.length) {
        const day = work[next++];
        const starts = Array.from({ length: perDay }, (_, i) => FIRST_DAY + day * DAY_MS + i * 15 * 60_000);
        await createSlots(this.url('appointments'), this.scheduleId, SERVICE_TYPE, starts, 15);
      }
    };
    await Promise.all(Array.from({ length: 3 }, seeder));
    const rows = await withClient(this.database('appointments'), (client) =>
      client.query<{ slot_id: string }>(
        `SELECT slot_id FROM appointment_slot
          WHERE start_at >= $1 AND start_at < $2 ORDER BY start_at LIMIT $3`,
        [new Date(FIRST_DAY + from * DAY_MS), new Date(FIRST_DAY + (from + days) * DAY_MS), count],
      ),
    );
    return rows.rows.map((r) => r.slot_id);
  }

  /** Sets a resource's capacity at its participant. */
  async offer(resource: string, capacity: number): Promise<void> {
    const kind = resource.slice(0, resource.indexOf(':')) as keyof typeof PARTICIPANT_OF;
    const answer = await putJson(`${this.url(PARTICIPANT_OF[kind])}/api/capacity/resources/${resource}`, {
      capacity,
    });
    if (answer.status !== 200 && answer.status !== 201)
      throw new Error(`offering ${resource}: ${failureSummary(answer)}`);
  }

  /** Lends quota for these resources to their participants' caches ahead of demand. */
  async allocateQuota(resources: readonly string[], units: number): Promise<number> {
    let lent = 0;
    for (const [kind, service] of Object.entries(PARTICIPANT_OF)) {
      const mine = resources.filter((r) => r.startsWith(`${kind}:`));
      for (let i = 0; i < mine.length; i += 5_000) {
        const answer = await postJson(`${this.url(service)}/api/capacity/quota/allocate`, {
          resources: mine.slice(i, i + 5_000),
          units,
        });
        if (answer.status !== 200)
          throw new Error(`allocating quota at ${service}: ${failureSummary(answer)}`);
        lent += (JSON.parse(answer.body) as { lent: number }).lent;
      }
    }
    return lent;
  }

  /** A CarePlan for `plan`, as a clinician's system sends it. */
  carePlan(plan: PlanSpec): Record<string, unknown> {
    return {
      resourceType: 'CarePlan',
      status: 'draft',
      intent: 'plan',
      title: 'Multidisciplinary treatment plan',
      subject: { reference: `Patient/${this.patientId}` },
      careTeam: [{ reference: `CareTeam/${this.careTeamId}` }],
      activity: [
        {
          detail: {
            kind: 'Appointment',
            status: 'scheduled',
            performer: [{ reference: `Practitioner/${plan.practitionerId}` }],
            extension: [{ url: SLOT_EXTENSION, valueReference: { reference: `Slot/${plan.slotId}` } }],
          },
        },
        {
          detail: {
            kind: 'ServiceRequest',
            status: 'scheduled',
            code: { coding: [{ system: DICOM_SYSTEM, code: plan.imaging.modality }] },
            scheduledPeriod: { start: plan.imaging.day },
          },
        },
        {
          detail: {
            kind: 'MedicationRequest',
            status: 'scheduled',
            productCodeableConcept: { coding: [{ system: RXNORM_SYSTEM, code: plan.regimen.drugCode }] },
            location: { reference: `Location/${plan.regimen.location}` },
            quantity: { value: plan.regimen.quantity, unit: 'tablet' },
          },
        },
      ],
    };
  }

  /** Books one plan; its answer (201 active, 409 revoked) and gtid. */
  async book(plan: PlanSpec, mode: PlanMode, options: PostOptions = {}) {
    const answer = await postFhir(
      `${this.url('care-plans')}/fhir/CarePlan?_mode=${mode}`,
      this.carePlan(plan),
      options,
    );
    const gtid = answer.headers?.['x-gtid'];
    return { ...answer, gtid: typeof gtid === 'string' ? gtid : undefined };
  }

  /** The participant databases' connection settings, for probes and checks. */
  participantDatabases(): { service: PlanServiceName; database: string }[] {
    return (['appointments', 'pacs', 'pharmacy-inventory'] as const).map((service) => ({
      service,
      database: this.database(service),
    }));
  }

  async health(service: PlanServiceName): Promise<boolean> {
    const answer = await getJson(`${this.url(service)}/health/ready`).catch(() => undefined);
    return answer?.status === 200;
  }
}

async function putJson(url: string, body: unknown) {
  return sendJson('PUT', url, body);
}

async function postJson(url: string, body: unknown) {
  return sendJson('POST', url, body);
}

async function sendJson(method: string, url: string, body: unknown) {
  const started = performance.now();
  const response = await fetch(url, {
    method,
    headers: { 'content-type': 'application/json', authorization: devAuthorizationFor(url) },
    body: JSON.stringify(body),
  });
  return { status: response.status, body: await response.text(), elapsedMs: performance.now() - started };
}

/**
 * Deletes what the treatment-plan services declare on RabbitMQ under `namespace`: the participants'
 * commit-sync queues, the pharmacy inventory's queues, their exchanges. Missing ones are fine.
 */
/**
 * Deletes every Redis key under each prefix at one instant (one script), as a Redis that lost its data
 * shows them; the number deleted. Only the given prefixes: the Redis is shared, never FLUSHALL.
 */
export async function deleteKeysUnder(prefixes: readonly string[]): Promise<number> {
  const redis = new Redis(endpointsFromEnv().redis.url, { lazyConnect: true, maxRetriesPerRequest: 2 });
  redis.on('error', () => undefined);
  try {
    await redis.connect();
    return Number(await redis.eval(DELETE_PREFIXES_LUA, 0, ...prefixes));
  } finally {
    redis.disconnect();
  }
}

export async function deleteCarePlanNamespace(namespace: string): Promise<void> {
  await deleteNamespace(namespace, {
    queues: ['appointments', 'pacs', 'pharmacy'].map((p) => quotaCompletionsConsumer(p).queue),
    exchanges: [QUOTA_COMPLETIONS_EXCHANGE],
  });
}

export const FIRST_IMAGING_DAY = FIRST_DAY;
export { DAY_MS };
