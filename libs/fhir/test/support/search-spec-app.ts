import { Inject, Injectable, Module, type DynamicModule, type INestApplication } from '@nestjs/common';
import type { Bundle, BundleEntry, Patient, Resource } from '@medplum/fhirtypes';
import { buildServiceConfig, createServiceApp, Database, PlatformModule } from '@hospital/platform';
import { testAuthorizationFor } from '@hospital/platform/testing/access-token';
import { createTestDatabase } from '@hospital/platform/testing/test-database';
import {
  FhirExceptionFilter,
  FhirModule,
  FhirResourceStore,
  fhirStoreMigrations,
  type FhirDeleteResult,
  type FhirUpdateContext,
  type FhirUpdateResult,
  type FhirWriter,
  type FhirWriteResult,
  type SearchRequest,
  type Stored,
} from '@hospital/fhir';

/**
 * The app of the FHIR search spec: FhirModule over its own PostgreSQL database on an app built by the
 * platform's own bootstrap (createServiceApp: its JSON and form body parsers, its size limit), and the
 * spec's ways of calling it.
 */

const resources = {
  Patient: ['_id', 'identifier', 'name', 'family', 'birthdate', 'gender'],
  Encounter: ['_id', 'subject', 'patient', 'status'],
  ServiceRequest: ['_id', 'subject', 'patient', 'status'],
  MedicationRequest: ['_id', 'subject', 'medication', 'status'],
  Medication: ['_id', 'code'],
};

@Injectable()
class SearchSpecWriter implements FhirWriter {
  constructor(
    @Inject(FhirResourceStore) private readonly store: FhirResourceStore,
    @Inject(Database) private readonly db: Database,
  ) {}

  create(resource: Resource): Promise<Stored<Resource>> {
    return this.db.transaction((tx) => this.store.create(tx, resource));
  }

  update(resource: Resource & { id: string }, context: FhirUpdateContext): Promise<FhirUpdateResult> {
    return this.db.transaction((tx) => this.store.update(tx, resource, { ifMatch: context.ifMatch }));
  }

  delete(resourceType: string, id: string): Promise<FhirDeleteResult> {
    return this.db.transaction((tx) => this.store.delete(tx, resourceType, id));
  }

  createIfNoneExist(resource: Resource, condition: SearchRequest): Promise<FhirWriteResult<Resource>> {
    return this.db.transaction((tx) => this.store.createIfNoneExist(tx, resource, condition));
  }
}

function rootModule(config: ReturnType<typeof buildServiceConfig>): DynamicModule {
  @Module({})
  class SearchSpecModule {}
  return {
    module: SearchSpecModule,
    imports: [
      PlatformModule.forRoot(config),
      FhirModule.forRoot({
        serviceName: 'fhirsearch',
        resources,
        writes: Object.fromEntries(
          Object.keys(resources).map((type) => [type, ['create', 'update', 'delete'] as const]),
        ),
        writer: SearchSpecWriter,
      }),
    ],
  };
}

export interface Answer<T extends Resource = Resource> {
  status: number;
  headers: Headers;
  text: string;
  json: T;
}

export interface SearchSpecApp {
  db: Database;
  base: string;
  /** A request with a clinician's token of the spec file's issuer. */
  call<T extends Resource = Resource>(
    method: string,
    path: string,
    options?: { body?: unknown; headers?: Record<string, string> },
  ): Promise<Answer<T>>;
  /** Creates `resource` and expects a 201. */
  create<T extends Resource>(resource: T, headers?: Record<string, string>): Promise<Stored<T>>;
  /** Rows of the history table: one per version written. */
  rowCount(): Promise<number>;
  close(): Promise<void>;
}

export async function startSearchSpecApp(port: number): Promise<SearchSpecApp> {
  const created = await createTestDatabase('fhir_fhirsearch', fhirStoreMigrations);
  const db = new Database(created.settings, 'fhirsearch-spec');
  const config = buildServiceConfig({ name: 'fhirsearch', defaultPort: port }, [], {
    ...process.env,
    PGDATABASE: created.settings.database,
    PORT: String(port),
    LOG_LEVEL: 'error',
    BODY_LIMIT_BYTES: '65536',
  });
  const app: INestApplication = await createServiceApp(rootModule(config), config, {
    filters: [new FhirExceptionFilter()],
  });
  await app.listen(port, '127.0.0.1');
  const base = `http://127.0.0.1:${port}/fhir`;

  async function call<T extends Resource = Resource>(
    method: string,
    path: string,
    options: { body?: unknown; headers?: Record<string, string> } = {},
  ): Promise<Answer<T>> {
    const { body, headers = {} } = options;
    const response = await fetch(path.startsWith('http') ? path : `${base}${path}`, {
      method,
      headers: {
        authorization: testAuthorizationFor(path),
        ...(body === undefined || typeof body === 'string'
          ? {}
          : { 'content-type': 'application/fhir+json' }),
        ...headers,
      },
      body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
    });
    const text = await response.text();
    return {
      status: response.status,
      headers: response.headers,
      text,
      json: (text === '' ? undefined : JSON.parse(text)) as T,
    };
  }

  return {
    db,
    base,
    call,
    async create<T extends Resource>(resource: T, headers: Record<string, string> = {}): Promise<Stored<T>> {
      const answer = await call<Stored<T>>('POST', `/${resource.resourceType}`, { body: resource, headers });
      if (answer.status !== 201) throw new Error(`create answered ${answer.status}: ${answer.text}`);
      return answer.json;
    },
    async rowCount(): Promise<number> {
      return (await db.query<{ n: number }>('SELECT count(*)::int AS n FROM fhir_resource_history'))[0].n;
    },
    async close(): Promise<void> {
      await app.close();
      await db.close();
      await created.drop();
    },
  };
}

export const patient = (family: string, mrn: string, extra: Partial<Patient> = {}): Patient => ({
  resourceType: 'Patient',
  identifier: [{ system: 'urn:mrn', value: mrn }],
  name: [{ family, given: ['Test'] }],
  gender: 'female',
  birthDate: '1990-01-01',
  ...extra,
});

export const matches = (bundle: Bundle, mode: 'match' | 'include' | 'outcome' = 'match'): Resource[] =>
  (bundle.entry ?? []).filter((e: BundleEntry) => e.search?.mode === mode).map((e) => e.resource as Resource);

export const families = (bundle: Bundle): (string | undefined)[] =>
  matches(bundle).map((r) => (r as Patient).name?.[0]?.family);
