import { Readable } from 'node:stream';
import type { Bundle, CapabilityStatement, OperationOutcome, Patient } from '@medplum/fhirtypes';
import { recordUpdateBundle } from '../../../scripts/lib/sample-bundle';
import { GatewayHospital, PORTS, url } from './support/gateway-hospital';
import { testAuthorizationFor } from '@hospital/platform/testing/access-token';

/**
 * The gateway as a client meets it: real services (EMR, LIS, PACS, referral inbox) and real gateways as
 * processes, over real HTTP, on real PostgreSQL.
 */
jest.setTimeout(30_000);

const GATEWAY = `${url(PORTS.gateway)}/fhir`;
const STRICT = `${url(PORTS.strictGateway)}/fhir`;
const FHIR_JSON = 'application/fhir+json';

/** Every request of this spec goes through here, with a clinician's token of the spec file's issuer. */
function call(target: string, init: RequestInit = {}): Promise<Response> {
  return fetch(target, {
    ...init,
    headers: {
      accept: FHIR_JSON,
      authorization: testAuthorizationFor(target),
      ...(init.headers as Record<string, string>),
    },
  });
}

async function outcome(response: Response): Promise<OperationOutcome> {
  expect(response.headers.get('content-type')).toContain(FHIR_JSON);
  const body = (await response.json()) as OperationOutcome;
  expect(body.resourceType).toBe('OperationOutcome');
  return body;
}

/**
 * FHIR requests the EMR and the referral inbox have served, by their `http_requests_total` metric (all
 * routes under /fhir but the CapabilityStatement, which the gateway reads on its own schedule).
 */
async function backendFhirRequests(): Promise<number> {
  let total = 0;
  for (const port of [PORTS.emr, PORTS.referralInbox]) {
    const text = await (await fetch(`${url(port)}/metrics`)).text();
    for (const line of text.split('\n')) {
      const sample = /^http_requests_total\{([^}]*)\} (\d+)/.exec(line);
      if (sample !== null && /route="\/fhir/.test(sample[1] ?? '') && !/metadata/.test(sample[1] ?? ''))
        total += Number(sample[2]);
    }
  }
  return total;
}

const patient = (mrn: string): Patient => ({
  resourceType: 'Patient',
  identifier: [{ system: 'urn:oid:1.2.36.146.595.217.0.1', value: mrn }],
  name: [{ family: 'Gatewood', given: ['Ada'] }],
  gender: 'female',
});

describe('the gateway in front of the hospital', () => {
  let hospital: GatewayHospital;

  beforeAll(async () => {
    hospital = await GatewayHospital.start();
  }, 120_000);

  afterAll(async () => {
    await hospital?.stop();
  });

  it('serves one CapabilityStatement merged from the backends, naming its own base', async () => {
    const response = await call(`${GATEWAY}/metadata`);
    expect(response.status).toBe(200);
    const statement = (await response.json()) as CapabilityStatement;
    expect(statement.implementation?.url).toBe(GATEWAY);
    const types = statement.rest?.[0]?.resource?.map((r) => r.type) ?? [];
    // Patient from the EMR, Communication from the referral inbox.
    expect(types).toEqual(
      expect.arrayContaining(['Patient', 'Encounter', 'ServiceRequest', 'Communication']),
    );
    expect(statement.rest?.[0]?.interaction).toEqual(expect.arrayContaining([{ code: 'transaction' }]));
  });

  it('creates, reads and searches a Patient through the gateway, every link naming the gateway', async () => {
    const created = await call(`${GATEWAY}/Patient`, {
      method: 'POST',
      headers: { 'content-type': FHIR_JSON, 'x-correlation-id': 'gw-spec-1' },
      body: JSON.stringify(patient('GW-1')),
    });
    expect(created.status).toBe(201);
    const location = created.headers.get('location') ?? '';
    expect(location.startsWith(`${GATEWAY}/Patient/`)).toBe(true);
    const id = ((await created.json()) as Patient).id ?? '';

    const read = await call(`${GATEWAY}/Patient/${id}`);
    expect(read.status).toBe(200);
    expect(read.headers.get('etag')).toBe('W/"1"');
    expect(((await read.json()) as Patient).name?.[0]?.family).toBe('Gatewood');

    const search = await call(`${GATEWAY}/Patient?identifier=urn:oid:1.2.36.146.595.217.0.1|GW-1`);
    expect(search.status).toBe(200);
    const bundle = (await search.json()) as Bundle<Patient>;
    expect(bundle.entry?.map((e) => e.resource?.id)).toEqual([id]);
    expect(bundle.entry?.[0]?.fullUrl).toBe(`${GATEWAY}/Patient/${id}`);
    for (const link of bundle.link ?? []) expect(link.url.startsWith(`${GATEWAY}/Patient`)).toBe(true);
  });

  it('routes a type to the other backend that owns it', async () => {
    const response = await call(`${GATEWAY}/Communication?_count=5`);
    expect(response.status).toBe(200);
    const bundle = (await response.json()) as Bundle;
    expect(bundle.type).toBe('searchset');
    expect(bundle.link?.find((l) => l.relation === 'self')?.url.startsWith(`${GATEWAY}/Communication`)).toBe(
      true,
    );
  });

  it('forwards a transaction Bundle to the service that coordinates it', async () => {
    const response = await call(GATEWAY, {
      method: 'POST',
      headers: { 'content-type': FHIR_JSON },
      body: JSON.stringify(recordUpdateBundle(1, 'GW-TX')),
    });
    expect(response.status).toBe(200);
    const answer = (await response.json()) as Bundle;
    expect(answer.type).toBe('transaction-response');
    const found = (await (
      await call(`${GATEWAY}/Patient?identifier=urn:oid:1.2.36.146.595.217.0.1|GW-TX-1`)
    ).json()) as Bundle;
    expect(found.entry).toHaveLength(1);
  });

  it('refuses a body that is not a Bundle at the base, and a Bundle of types nobody serves, writing nothing', async () => {
    const before = await hospital.emrRows();
    const broken = await call(GATEWAY, {
      method: 'POST',
      headers: { 'content-type': FHIR_JSON },
      body: '{"resourceType":',
    });
    expect(broken.status).toBe(400);
    await outcome(broken);
    const unknown = await call(GATEWAY, {
      method: 'POST',
      headers: { 'content-type': FHIR_JSON },
      body: JSON.stringify({
        resourceType: 'Bundle',
        type: 'batch',
        entry: [{ request: { method: 'GET', url: 'Unicorn/1' } }],
      }),
    });
    expect(unknown.status).toBe(404);
    await outcome(unknown);
    expect(await hospital.emrRows()).toBe(before);
  });

  it('answers 404 with an OperationOutcome for a type no service serves, without calling any backend', async () => {
    const before = await backendFhirRequests();
    for (const path of ['Unicorn', 'Unicorn/1', 'patient', '$export']) {
      const response = await call(`${GATEWAY}/${path}`);
      expect(response.status).toBe(404);
      expect((await outcome(response)).issue[0]?.code).toBe('not-supported');
    }
    expect(await backendFhirRequests()).toBe(before);
    // The count does see a request the gateway does route.
    await (await call(`${GATEWAY}/Patient?_count=1`)).body?.cancel();
    expect(await backendFhirRequests()).toBe(before + 1);
  });

  it('refuses an oversized body with 413, declared or streamed, and nothing is written', async () => {
    const before = await hospital.emrRows();
    const big = JSON.stringify({
      ...patient('GW-BIG'),
      text: { status: 'generated', div: 'x'.repeat(70_000) },
    });
    const declared = await call(`${GATEWAY}/Patient`, {
      method: 'POST',
      headers: { 'content-type': FHIR_JSON },
      body: big,
    });
    expect(declared.status).toBe(413);
    await outcome(declared);
    const streamed = await call(`${GATEWAY}/Patient`, {
      method: 'POST',
      headers: { 'content-type': FHIR_JSON },
      body: Readable.toWeb(
        Readable.from([Buffer.from(big.slice(0, 40_000)), Buffer.from(big.slice(40_000))]),
      ) as ReadableStream,
      duplex: 'half',
    });
    expect(streamed.status).toBe(413);
    await outcome(streamed);
    expect(await hospital.emrRows()).toBe(before);
  });

  it('passes a backend’s own refusal through as it was sent', async () => {
    const response = await call(`${GATEWAY}/Patient`, {
      method: 'POST',
      headers: { 'content-type': FHIR_JSON },
      body: JSON.stringify({ resourceType: 'Patient', gender: 42 }),
    });
    expect(response.status).toBe(400);
    await outcome(response);
  });

  it('sets the security headers on every answer, HSTS behind TLS', async () => {
    for (const response of [
      await call(`${GATEWAY}/metadata`),
      await call(`${GATEWAY}/Patient?_count=1`),
      await call(`${GATEWAY}/Unicorn`),
    ]) {
      expect(response.headers.get('x-content-type-options')).toBe('nosniff');
      expect(response.headers.get('x-frame-options')).toBe('DENY');
      expect(response.headers.get('content-security-policy')).toContain("default-src 'none'");
      expect(response.headers.get('cache-control')).toBe('no-store');
      expect(response.headers.get('referrer-policy')).toBe('no-referrer');
      expect(response.headers.get('strict-transport-security')).toBeNull();
      expect(response.headers.get('x-powered-by')).toBeNull();
    }
    // A TLS-terminating proxy on loopback (trusted by default) says the client came over https.
    const behindTls = await call(`${GATEWAY}/Patient?_count=1`, {
      headers: { 'x-forwarded-proto': 'https', 'x-forwarded-host': 'fhir.hospital.example' },
    });
    expect(behindTls.headers.get('strict-transport-security')).toContain('max-age=');
    const bundle = (await behindTls.json()) as Bundle;
    expect(bundle.link?.[0]?.url.startsWith('https://fhir.hospital.example/fhir/Patient')).toBe(true);
  });

  it('answers CORS preflights for the configured origins only', async () => {
    const preflight = (origin: string) =>
      fetch(`${GATEWAY}/Patient`, {
        method: 'OPTIONS',
        headers: {
          origin,
          'access-control-request-method': 'POST',
          'access-control-request-headers': 'authorization,content-type',
        },
      });
    const allowed = await preflight('https://app.hospital.example');
    expect(allowed.status).toBeLessThan(300);
    expect(allowed.headers.get('access-control-allow-origin')).toBe('https://app.hospital.example');
    expect(allowed.headers.get('access-control-allow-headers')?.toLowerCase()).toContain('authorization');
    const other = await preflight('https://evil.example');
    expect(other.headers.get('access-control-allow-origin')).toBeNull();
  });

  it('answers 503 for a backend that is down and 502 for one that answers garbage, and /health names them', async () => {
    const down = await call(`${STRICT}/Communication`);
    expect(down.status).toBe(503);
    expect((await outcome(down)).issue[0]?.diagnostics).toBe('The referral-inbox service is unavailable');
    const broken = await call(`${STRICT}/CarePlan`);
    expect(broken.status).toBe(502);
    const text = JSON.stringify(await outcome(broken));
    expect(text).not.toContain('at ');
    expect(text).not.toContain(String(PORTS.garbage));

    const health = await fetch(`${url(PORTS.strictGateway)}/health`);
    expect(health.status).toBe(503);
    expect(await health.json()).toEqual({
      status: 'degraded',
      backends: {
        emr: { status: 'up' },
        'referral-inbox': { status: 'down' },
        'care-plans': { status: 'down' },
      },
    });
    const mainHealth = await fetch(`${url(PORTS.gateway)}/health`);
    expect(mainHealth.status).toBe(200);
    expect((await fetch(`${url(PORTS.strictGateway)}/health/ready`)).status).toBe(200);
  });

  it('limits each client’s request rate: 429 with Retry-After and an OperationOutcome', async () => {
    const statuses: number[] = [];
    let limited: Response | undefined;
    for (let i = 0; i < 12; i += 1) {
      const response = await call(`${STRICT}/metadata`);
      statuses.push(response.status);
      if (response.status === 429) limited ??= response;
      else await response.body?.cancel();
    }
    // A burst of 5 (less what earlier tests of this gateway took), then refusals: 1 per second comes back.
    const allowed = statuses.filter((s) => s === 200).length;
    expect(allowed).toBeGreaterThanOrEqual(1);
    expect(allowed).toBeLessThanOrEqual(6);
    expect(statuses.slice(allowed).every((s) => s === 429)).toBe(true);
    expect(Number(limited?.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect((await outcome(limited!)).issue[0]?.code).toBe('throttled');
  });
});
