// The consult completion's services as the bench, the fault runner and the specs run them: telemedicine
// (the 3PC coordinator, and a participant with its consult record), the EMR and the referring site's
// inbox, each a real process on its own port and a fresh database (`hospital_<service>_<suffix>`). With
// `proxied`, every call between them goes through a TCP proxy in front of each service, so a run can cut
// one off from the others as a network partition would.
import type { Resource } from '@medplum/fhirtypes';
import { FhirResourceStore, SearchParameterRegistry } from '@hospital/fhir';
import { Database, serviceDatabaseName } from '@hospital/platform';
/* eslint-disable no-restricted-imports -- the run seeds telemedicine's directory as the demo does */
import { seedConsultDirectory } from '../../apps/telemedicine/src/database/seeds/consult-directory';
/* eslint-enable no-restricted-imports */
import { findService, repositoryRoot, serviceEntry, serviceEnv, urlVariable } from '../services';
import { postgresEndpoint, recreateDatabases, withClient } from './bench-cluster';
import { failureSummary, postFhir, type PostOptions, type PostResult } from './bench-http';
import { type ExitInfo, ServiceProcess } from './service-process';
import { TcpProxy } from './tcp-proxy';

export type ConsultServiceName = 'emr' | 'referral-inbox' | 'telemedicine';
/** In start order: the participants first, then telemedicine. */
export const CONSULT_SERVICES: readonly ConsultServiceName[] = ['emr', 'referral-inbox', 'telemedicine'];

export interface TelemedicineClusterOptions {
  /** First of the run's ports: three services, then (with `proxied`) their proxies from `basePort + 10`. */
  basePort: number;
  /** Database suffix: `hospital_<service>_<suffix>`. */
  suffix: string;
  log: (line: string) => void;
  /** Every call between the services through a proxy the run can cut. */
  proxied?: boolean;
  /** Extra environment for every service, and for one. */
  env?: Record<string, string>;
  envOf?: Partial<Record<ConsultServiceName, Record<string, string>>>;
}

/** One open consult: a request and its virtual session at telemedicine. */
export interface OpenConsult {
  patientId: string;
  serviceRequestId: string;
  encounterId: string;
}

/** Where a completion's three parts stand, by participant, and what is still prepared there. */
export interface ConsultParts {
  applied: Record<ConsultServiceName, boolean>;
  prepared: Record<ConsultServiceName, number>;
}

export class TelemedicineCluster {
  readonly processes = {} as Record<ConsultServiceName, ServiceProcess>;
  readonly proxies = {} as Record<ConsultServiceName, TcpProxy>;
  readonly patientIds: string[] = [];

  constructor(private readonly options: TelemedicineClusterOptions) {}

  port(service: ConsultServiceName): number {
    return this.options.basePort + CONSULT_SERVICES.indexOf(service);
  }

  /** The service's own address (clients of the run call it here). */
  url(service: ConsultServiceName): string {
    return `http://127.0.0.1:${this.port(service)}`;
  }

  /** Where the other services reach it: its proxy when the run is proxied. */
  peerUrl(service: ConsultServiceName): string {
    return this.options.proxied ? this.proxies[service].url : this.url(service);
  }

  database(service: ConsultServiceName): string {
    return serviceDatabaseName(service, this.options.suffix);
  }

  /** Fresh databases, proxies, the services, then `patients` patients in the EMR and the directory. */
  async start(patients = 1): Promise<void> {
    await recreateDatabases(
      CONSULT_SERVICES.map((s) => ({ database: this.database(s), migrations: findService(s).migrations })),
      () => undefined,
    );
    if (this.options.proxied)
      for (const [i, service] of CONSULT_SERVICES.entries()) {
        const proxy = new TcpProxy(this.options.basePort + 10 + i, {
          host: '127.0.0.1',
          port: this.port(service),
        });
        await proxy.start();
        this.proxies[service] = proxy;
      }
    for (const service of CONSULT_SERVICES) await this.startService(service);
    await this.seed(patients);
    this.options.log(
      `fresh databases *_${this.options.suffix}; services on ${this.options.basePort}–${this.options.basePort + 2}` +
        (this.options.proxied
          ? `, proxies on ${this.options.basePort + 10}–${this.options.basePort + 12}`
          : ''),
    );
  }

  /** The environment of one service: its port and database, its peers at this run's addresses. */
  envOf(service: ConsultServiceName, extra: Record<string, string> = {}): NodeJS.ProcessEnv {
    const urls = Object.fromEntries(CONSULT_SERVICES.map((s) => [urlVariable(s), this.peerUrl(s)]));
    return serviceEnv(service, {
      ...urls,
      PORT: String(this.port(service)),
      HOST: '127.0.0.1',
      PGDATABASE: this.database(service),
      LOG_LEVEL: 'warn',
      ...this.options.env,
      ...this.options.envOf?.[service],
      ...extra,
    });
  }

  async startService(
    service: ConsultServiceName,
    extra: Record<string, string> = {},
  ): Promise<ServiceProcess> {
    const started = await ServiceProcess.start({
      name: service,
      entry: serviceEntry(service),
      env: this.envOf(service, extra),
      port: this.port(service),
      cwd: repositoryRoot(),
    });
    this.processes[service] = started;
    return started;
  }

  /** SIGKILLs a service; its exit. Start it again with `startService`. */
  kill(service: ConsultServiceName): Promise<ExitInfo> {
    return this.processes[service].kill();
  }

  async stop(): Promise<void> {
    await Promise.all(Object.values(this.processes).map((p) => p.stop()));
    await Promise.all(Object.values(this.proxies).map((p) => p.stop()));
  }

  /** A consult request about a seeded patient and its open virtual session. */
  openConsult(patientId = this.patientIds[0]): Promise<OpenConsult> {
    return openConsult(this.url('telemedicine'), patientId);
  }

  /** `$complete` of an open consult; never rejects. */
  complete(serviceRequestId: string, options: PostOptions & { query?: string } = {}): Promise<PostResult> {
    return completeConsult(this.url('telemedicine'), serviceRequestId, options);
  }

  /** Whether each participant holds its part of the consult's completion, and what is prepared there. */
  async parts(serviceRequestId: string): Promise<ConsultParts> {
    const basedOn = JSON.stringify([{ reference: `ServiceRequest/${serviceRequestId}` }]);
    const found: Record<ConsultServiceName, [string, string]> = {
      emr: [
        `SELECT count(*)::int AS n FROM fhir_resource
          WHERE resource_type = 'DiagnosticReport' AND NOT deleted AND content->'basedOn' @> $1::jsonb`,
        basedOn,
      ],
      'referral-inbox': [
        `SELECT count(*)::int AS n FROM fhir_resource
          WHERE resource_type = 'Communication' AND NOT deleted AND content->'basedOn' @> $1::jsonb`,
        basedOn,
      ],
      telemedicine: [
        `SELECT count(*)::int AS n FROM fhir_resource
          WHERE resource_type = 'ServiceRequest' AND id = $1 AND content->>'status' = 'completed'`,
        serviceRequestId,
      ],
    };
    const applied = {} as Record<ConsultServiceName, boolean>;
    const prepared = {} as Record<ConsultServiceName, number>;
    for (const service of CONSULT_SERVICES)
      await withClient(this.database(service), async (client) => {
        const [sql, param] = found[service];
        const [part] = (await client.query<{ n: number }>(sql, [param])).rows;
        applied[service] = (part?.n ?? 0) > 0;
        const [open] = (
          await client.query<{ n: number }>(
            `SELECT count(*)::int AS n FROM pg_prepared_xacts WHERE database = current_database() AND gid LIKE '3pc|%'`,
          )
        ).rows;
        prepared[service] = open?.n ?? 0;
      });
    return { applied, prepared };
  }

  /** Patients in the EMR's database (as its record updates would copy them), and the consult directory. */
  private async seed(patients: number): Promise<void> {
    const endpoint = postgresEndpoint();
    const emr = new Database(
      { ...endpoint, database: this.database('emr'), poolSize: 1 },
      'telemedicine-run',
    );
    const telemedicine = new Database(
      { ...endpoint, database: this.database('telemedicine'), poolSize: 1 },
      'telemedicine-run',
    );
    try {
      const store = new FhirResourceStore(new SearchParameterRegistry({ Patient: ['_id'] }));
      for (let i = 1; i <= patients; i += 1) this.patientIds.push(`pat-tele-${String(i).padStart(4, '0')}`);
      await emr.transaction(async (tx) => {
        for (const id of this.patientIds) {
          const patient: Resource = {
            resourceType: 'Patient',
            id,
            name: [{ family: 'Consult', given: [id] }],
          };
          await store.upsertCopy(tx, patient);
        }
      });
      await seedConsultDirectory(telemedicine);
    } finally {
      await emr.close();
      await telemedicine.close();
    }
  }
}

/**
 * Opens a consult at telemedicine (`base`): a request from referring site site-0001 to expert-0001 about
 * `patientId`, and its virtual session.
 */
export async function openConsult(base: string, patientId: string): Promise<OpenConsult> {
  const request = await postFhir(`${base}/fhir/ServiceRequest`, {
    resourceType: 'ServiceRequest',
    status: 'active',
    intent: 'order',
    code: { text: 'Teledermatology consult' },
    subject: { reference: `Patient/${patientId}` },
    requester: { reference: 'Organization/site-0001' },
    performer: [{ reference: 'Practitioner/expert-0001' }],
  });
  if (request.status !== 201) throw new Error(`consult request refused: ${failureSummary(request)}`);
  const serviceRequestId = (JSON.parse(request.body) as { id: string }).id;
  const session = await postFhir(`${base}/fhir/Encounter`, {
    resourceType: 'Encounter',
    status: 'in-progress',
    class: { system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'VR', display: 'virtual' },
    subject: { reference: `Patient/${patientId}` },
    basedOn: [{ reference: `ServiceRequest/${serviceRequestId}` }],
    participant: [{ individual: { reference: 'Practitioner/expert-0001' } }],
    period: { start: new Date().toISOString() },
  });
  if (session.status !== 201) throw new Error(`virtual session refused: ${failureSummary(session)}`);
  return { patientId, serviceRequestId, encounterId: (JSON.parse(session.body) as { id: string }).id };
}

/** The expert's findings and recommendations for `$complete`. */
export const CONSULT_COMPLETION = {
  resourceType: 'Parameters',
  parameter: [
    { name: 'conclusion', valueString: 'Findings consistent with contact dermatitis.' },
    { name: 'recommendation', valueString: 'Topical corticosteroid for two weeks; review in a month.' },
  ],
};

/** `$complete` of an open consult at telemedicine (`base`); never rejects. */
export function completeConsult(
  base: string,
  serviceRequestId: string,
  options: PostOptions & { query?: string } = {},
): Promise<PostResult> {
  const query = options.query ? `?${options.query}` : '';
  return postFhir(
    `${base}/fhir/ServiceRequest/${serviceRequestId}/$complete${query}`,
    CONSULT_COMPLETION,
    options,
  );
}
