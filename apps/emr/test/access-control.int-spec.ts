import { createHmac } from 'node:crypto';
import {
  Controller,
  Get,
  Global,
  Module,
  Req,
  type DynamicModule,
  type INestApplication,
} from '@nestjs/common';
import { FhirExceptionFilter } from '@hospital/fhir';
import {
  AUDIT_SINK,
  createServiceApp,
  generateDevIssuerKeys,
  RequireScopes,
  seededServiceKeyring,
  signDevToken,
  signServiceToken,
  type AuditRecord,
  type AuditSink,
  type RequestWithPrincipal,
} from '@hospital/platform';
import { testAccessToken, testAuthorization, testIssuerKeys } from '@hospital/platform/testing/access-token';
import { testServiceAuthorization } from '@hospital/platform/testing/service-auth';
import { createTestDatabase } from '@hospital/platform/testing/test-database';
import { emrConfig } from '../src/config';
import { migrations } from '../src/database/migrations';
import { EmrModule } from '../src/emr.module';

const PORT = 4150;
const BASE = `http://127.0.0.1:${PORT}`;

/** Every record the guard sends: the spec's window on the audit trail (the audit service is not here). */
const audited: AuditRecord[] = [];
const sink: AuditSink = {
  record: (records) => {
    audited.push(...records);
    return Promise.resolve();
  },
};

@Global()
@Module({ providers: [{ provide: AUDIT_SINK, useValue: sink }], exports: [AUDIT_SINK] })
class RecordingAuditModule {}

/** A route with no access rule (must be refused), and one that shows the principal the guard proved. */
@Controller('api/probe')
class ProbeController {
  @Get('forgotten')
  forgotten(): string {
    return 'should never be served';
  }

  @RequireScopes('user/Observation.rs')
  @Get('whoami')
  whoami(@Req() request: RequestWithPrincipal): unknown {
    return request.principal;
  }
}

@Module({ controllers: [ProbeController] })
class ProbeModule {}

const root = (inner: DynamicModule): DynamicModule => ({
  module: class AccessSpecRoot {},
  imports: [inner, RecordingAuditModule, ProbeModule],
});

async function call(
  path: string,
  init: { method?: string; authorization?: string; body?: unknown; headers?: Record<string, string> } = {},
): Promise<{ status: number; headers: Headers; body: Record<string, unknown> }> {
  const response = await fetch(`${BASE}${path}`, {
    method: init.method ?? (init.body === undefined ? 'GET' : 'POST'),
    headers: {
      'content-type': 'application/fhir+json',
      ...(init.authorization === undefined ? {} : { authorization: init.authorization }),
      ...init.headers,
    },
    body: init.body === undefined ? undefined : JSON.stringify(init.body),
  });
  const text = await response.text();
  const json = /json/.test(response.headers.get('content-type') ?? '');
  return { status: response.status, headers: response.headers, body: json && text ? JSON.parse(text) : {} };
}

const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');

describe('access control on a real service (EMR over HTTP)', () => {
  let app: INestApplication;
  let drop: () => Promise<void>;

  beforeAll(async () => {
    const database = await createTestDatabase('emr', migrations);
    drop = database.drop;
    const config = emrConfig({
      ...process.env,
      PORT: String(PORT),
      PGDATABASE: database.settings.database,
      LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'silent',
    });
    app = await createServiceApp(root(EmrModule.forRoot(config)), config, {
      filters: [new FhirExceptionFilter()],
    });
    await app.listen(PORT, '127.0.0.1');
  });

  afterAll(async () => {
    await app?.close();
    await drop?.();
  });

  beforeEach(() => (audited.length = 0));

  it('refuses a request without a token with 401, WWW-Authenticate and an OperationOutcome, and audits it', async () => {
    const answer = await call('/fhir/Patient?family=Smith');
    expect(answer.status).toBe(401);
    expect(answer.headers.get('www-authenticate')).toMatch(/^Bearer /);
    expect(answer.headers.get('content-type')).toContain('application/fhir+json');
    expect(answer.body).toMatchObject({
      resourceType: 'OperationOutcome',
      issue: [{ severity: 'error', code: 'login', diagnostics: 'missing bearer token' }],
    });
    expect(audited).toEqual([
      expect.objectContaining({
        service: 'emr',
        outcome: '4',
        status: 401,
        action: 'R',
        resourceType: 'Patient',
        reason: 'missing bearer token',
        interaction: '/fhir/:type',
      }),
    ]);
    expect(audited[0]?.actor).toBeUndefined();
    expect(audited[0]?.sourceAddress).toMatch(/127\.0\.0\.1/);
  });

  it('refuses forged, expired, foreign and unsigned tokens with 401', async () => {
    const other = generateDevIssuerKeys(testIssuerKeys().issuer);
    const good = testAccessToken('clinician');
    const [, payload] = good.split('.') as [string, string, string];
    const hs = `${b64({ alg: 'HS256', typ: 'JWT' })}.${payload}`;
    const cases: [string, string][] = [
      [`Bearer ${signDevToken(other, { role: 'clinician' })}`, 'token signed by an unknown key'],
      [`Bearer ${good.slice(0, -4)}AAAA`, 'bad token signature'],
      [
        testAuthorization('clinician', { ttlSeconds: 60, now: Math.floor(Date.now() / 1000) - 3600 }),
        'token expired',
      ],
      [
        testAuthorization('clinician', { claims: { iss: 'https://elsewhere.example' } }),
        'token from another issuer',
      ],
      [`Bearer ${b64({ alg: 'none', typ: 'JWT' })}.${payload}.`, 'token algorithm must be RS256'],
      // The shared-secret service tokens of old are no longer a way in, whatever the secret.
      [
        `Bearer ${hs}.${createHmac('sha256', 'guess').update(hs).digest('base64url')}`,
        'token algorithm must be RS256',
      ],
      // A service token naming the LIS, signed with a key that is not the LIS's.
      [
        `Bearer ${signServiceToken(
          {
            iss: 'lis',
            sub: 'lis',
            aud: 'emr',
            iat: Math.floor(Date.now() / 1000),
            exp: Math.floor(Date.now() / 1000) + 60,
          },
          seededServiceKeyring('a-guessed-seed-that-is-long-enough-0123', 'lis'),
        )}`,
        'bad token signature',
      ],
      ['Basic dXNlcjpwYXNz', 'authorization must be a bearer token'],
    ];
    for (const [authorization, reason] of cases) {
      const answer = await call('/fhir/Patient', { authorization });
      expect({ reason, status: answer.status, diagnostics: answer.body.issue }).toEqual({
        reason,
        status: 401,
        diagnostics: [expect.objectContaining({ code: 'login', diagnostics: reason })],
      });
    }
    expect(audited).toHaveLength(cases.length);
  });

  it('lets the right scope through and refuses one that does not cover the request with 403', async () => {
    // A Practitioner: the EMR stores it locally (a Patient create is a 2PC with the LIS and the PACS).
    const practitioner = { resourceType: 'Practitioner', name: [{ family: 'Access', given: ['Ada'] }] };
    const clinician = testAuthorization('clinician');
    const created = await call('/fhir/Practitioner', { authorization: clinician, body: practitioner });
    expect(created.status).toBe(201);
    const id = created.body.id as string;
    const count = async () =>
      (await call('/fhir/Practitioner?_summary=count', { authorization: clinician })).body.total;
    const before = await count();

    expect(
      (await call(`/fhir/Practitioner/${id}`, { authorization: testAuthorization('nurse') })).status,
    ).toBe(200);
    expect((await call('/fhir/Patient', { authorization: testAuthorization('scheduler') })).status).toBe(200);

    const cases: [string, Parameters<typeof call>[1], string][] = [
      ['nurse creates', { authorization: testAuthorization('nurse'), body: practitioner }, 'Practitioner.c'],
      ['auditor reads', { authorization: testAuthorization('auditor') }, 'Practitioner.r'],
      [
        'clinician token narrowed to Observation',
        { authorization: testAuthorization('clinician', { scope: 'user/Observation.rs' }) },
        'Practitioner.r',
      ],
      [
        'administrator deletes',
        { authorization: testAuthorization('administrator'), method: 'DELETE' },
        'Practitioner.d',
      ],
    ];
    audited.length = 0;
    for (const [name, init, scope] of cases) {
      const path = init?.body === undefined ? `/fhir/Practitioner/${id}` : '/fhir/Practitioner';
      const answer = await call(path, init);
      expect({ name, status: answer.status, issue: answer.body.issue }).toEqual({
        name,
        status: 403,
        issue: [
          expect.objectContaining({ code: 'forbidden', diagnostics: `token scopes do not cover ${scope}` }),
        ],
      });
    }
    expect(audited.map((r) => [r.status, r.actor?.role, r.resourceType])).toEqual([
      [403, 'nurse', 'Practitioner'],
      [403, 'auditor', 'Practitioner'],
      [403, 'clinician', 'Practitioner'],
      [403, 'administrator', 'Practitioner'],
    ]);
    // The refused create and delete wrote nothing.
    expect(await count()).toBe(before);
    expect((await call(`/fhir/Practitioner/${id}`, { authorization: clinician })).status).toBe(200);
  });

  it('checks every entry of a transaction Bundle', async () => {
    const bundle = {
      resourceType: 'Bundle',
      type: 'transaction',
      entry: [
        { resource: { resourceType: 'Observation' }, request: { method: 'POST', url: 'Observation' } },
        { resource: { resourceType: 'Patient' }, request: { method: 'POST', url: 'Patient' } },
      ],
    };
    const answer = await call('/fhir', { authorization: testAuthorization('nurse'), body: bundle });
    expect(answer.status).toBe(403);
    expect(answer.body.issue).toEqual([
      expect.objectContaining({ diagnostics: 'token scopes do not cover Patient.c' }),
    ]);
  });

  it('breaks the glass for a clinical role reading what its scopes do not cover, and flags it', async () => {
    const pharmacist = testAuthorization('pharmacist', { sub: 'ph-7' });
    expect((await call('/api/probe/whoami', { authorization: pharmacist })).status).toBe(403);
    const glass = { 'x-break-the-glass': 'Patient unconscious, checking recent vitals' };
    const whoami = await call('/api/probe/whoami', { authorization: pharmacist, headers: glass });
    expect(whoami.status).toBe(200);
    expect(whoami.body).toMatchObject({
      kind: 'user',
      id: 'ph-7',
      role: 'pharmacist',
      breakTheGlass: { reason: 'Patient unconscious, checking recent vitals' },
    });
    expect((await call('/fhir/Encounter', { authorization: pharmacist, headers: glass })).status).toBe(200);

    // Reading only, with a reason, for clinical roles only.
    const write = await call('/fhir/Encounter', {
      authorization: pharmacist,
      headers: glass,
      body: { resourceType: 'Encounter', status: 'planned', class: { code: 'AMB' } },
    });
    expect([write.status, write.body.issue]).toEqual([
      403,
      [expect.objectContaining({ diagnostics: 'break-the-glass allows reading only' })],
    ]);
    const scheduler = await call('/fhir/Encounter', {
      authorization: testAuthorization('scheduler'),
      headers: glass,
    });
    expect(scheduler.status).toBe(403);
    const noReason = await call('/fhir/Encounter', {
      authorization: pharmacist,
      headers: { 'x-break-the-glass': ' ' },
    });
    expect(noReason.status).toBe(403);
    const longReason = await call('/fhir/Encounter', {
      authorization: pharmacist,
      headers: { 'x-break-the-glass': 'x'.repeat(201) },
    });
    expect(longReason.status).toBe(403);
  });

  it('fails closed on a route without access metadata, with problem JSON on /api', async () => {
    const answer = await call('/api/probe/forgotten', { authorization: testAuthorization('administrator') });
    expect(answer.status).toBe(403);
    expect(answer.headers.get('content-type')).toContain('application/problem+json');
    expect(answer.body).toMatchObject({ status: 403, detail: 'route has no access rule' });
  });

  it('keeps health, metrics, the CapabilityStatement and SMART discovery public', async () => {
    for (const path of ['/health/live', '/metrics', '/fhir/metadata', '/api/docs'])
      expect([path, (await call(path)).status]).toEqual([path, 200]);
    const smart = await call('/.well-known/smart-configuration');
    expect(smart.status).toBe(200);
    expect(smart.body).toMatchObject({
      issuer: testIssuerKeys().issuer,
      token_endpoint: `${testIssuerKeys().issuer}/token`,
      capabilities: expect.arrayContaining(['permission-v2', 'launch-standalone']),
      code_challenge_methods_supported: ['S256'],
      scopes_supported: expect.arrayContaining(['user/Patient.rs', 'user/AuditEvent.rs']),
    });
  });

  it('admits the platform services by their own identity, and the admin API only for administrators', async () => {
    const asLis = testServiceAuthorization('lis', 'emr');
    expect((await call('/fhir/Patient', { authorization: asLis })).status).toBe(200);
    expect((await call('/api/transactions', { authorization: asLis })).status).toBe(200);
    expect(
      (await call('/api/transactions', { authorization: testAuthorization('administrator') })).status,
    ).toBe(200);
    const clinician = await call('/api/transactions', { authorization: testAuthorization('clinician') });
    expect([clinician.status, clinician.body.detail]).toEqual([403, 'route is for administrator']);
    expect(
      (await call('/fhir/Patient', { authorization: testServiceAuthorization('lis', 'pacs') })).status,
    ).toBe(403);
  });
});
