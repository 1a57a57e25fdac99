import type { INestApplication } from '@nestjs/common';
import { FhirExceptionFilter } from '@hospital/fhir';
import { createServiceApp, Database } from '@hospital/platform';
import { createTestDatabase } from '@hospital/platform/testing/test-database';
import { capacityAccountingViolations } from '@hospital/transactions/testing/capacity-accounting';
import { pacsConfig } from '../src/config';
import { migrations } from '../src/database/migrations';
import { PacsModule } from '../src/pacs.module';
import { testAuthorizationFor } from '@hospital/platform/testing/access-token';

/**
 * The PACS as a treatment plan's participant, over real HTTP: its imaging capacity per modality and day
 * registered with PUT, reserved by saga apply and release and by TCC Try / Confirm / Cancel at
 * /api/capacity. A malformed body, an id of another kind, too many units, an unknown resource: each a 4xx
 * problem document naming the problem, with nothing written in the database.
 */
jest.setTimeout(60_000);

interface Reply {
  status: number;
  contentType: string | null;
  body: Record<string, unknown> & { code?: string; detail?: string };
}

describe('pacs imaging capacity at /api/capacity', () => {
  let app: INestApplication;
  let db: Database;
  let drop: () => Promise<void>;
  const base = 'http://127.0.0.1:3700';

  beforeAll(async () => {
    const created = await createTestDatabase('pacs', migrations);
    drop = created.drop;
    db = new Database(created.settings, 'pacs-capacity-test');
    const config = pacsConfig({
      ...process.env,
      PGDATABASE: created.settings.database,
      PORT: '3700',
      LOG_LEVEL: 'error',
    });
    app = await createServiceApp(PacsModule.forRoot(config), config, {
      filters: [new FhirExceptionFilter()],
    });
    await app.listen(3700, '127.0.0.1');
  });

  afterAll(async () => {
    await app?.close();
    await db?.close();
    await drop?.();
  });

  afterEach(async () => {
    expect(await capacityAccountingViolations(db)).toEqual([]);
  });

  async function call(
    method: string,
    path: string,
    body?: unknown,
    raw?: string,
    type?: string,
  ): Promise<Reply> {
    const hasBody = body !== undefined || raw !== undefined;
    const response = await fetch(`${base}${path}`, {
      method,
      headers: {
        authorization: testAuthorizationFor(path),
        ...(hasBody ? { 'content-type': type ?? 'application/json' } : {}),
      },
      body: raw ?? (body === undefined ? undefined : JSON.stringify(body)),
    });
    const text = await response.text();
    return {
      status: response.status,
      contentType: response.headers.get('content-type'),
      body: (text === '' ? {} : JSON.parse(text)) as Reply['body'],
    };
  }
  const post = (path: string, body: unknown) => call('POST', `/api/capacity${path}`, body);
  const put = (resource: string, body: unknown) => call('PUT', `/api/capacity/resources/${resource}`, body);
  const get = (path: string) => call('GET', `/api/capacity${path}`);

  /** Every row the capacity routes may write. */
  const snapshot = async () => ({
    capacity: await db.query('SELECT * FROM tx_capacity ORDER BY resource'),
    claims: await db.query('SELECT * FROM tx_capacity_claim ORDER BY key'),
    barrier: await db.query('SELECT * FROM tx_tcc_barrier ORDER BY gtid, branch, op'),
  });

  const refused = (reply: Reply, status: number, code?: string): void => {
    expect({ status: reply.status, code: reply.body.code }).toEqual({ status, code });
    expect(reply.contentType).toContain('application/problem+json');
    expect(reply.body.detail).toEqual(expect.any(String));
  };

  it('registers a modality day, sets its capacity and serves its level', async () => {
    const created = await put('imaging:CT:2026-12-07', { capacity: 3 });
    expect(created.status).toBe(201);
    expect(created.body).toEqual({
      resource: 'imaging:CT:2026-12-07',
      capacity: 3,
      taken: 0,
      held: 0,
      lent: 0,
      available: 3,
    });
    expect((await put('imaging:CT:2026-12-07', { capacity: 4 })).status).toBe(200);
    const level = await get('/resources/imaging:CT:2026-12-07');
    expect(level).toMatchObject({ status: 200, body: { capacity: 4, available: 4 } });
    // A client that percent-encodes the colons reaches the same resource.
    expect((await get('/resources/imaging%3ACT%3A2026-12-07')).body).toEqual(level.body);
  });

  it('applies a saga step once, refuses what does not fit, releases, and refuses the apply after release', async () => {
    await put('imaging:MR:2026-12-07', { capacity: 3 });
    const step = {
      key: 'g-http-saga:imaging',
      gtid: 'g-http-saga',
      resource: 'imaging:MR:2026-12-07',
      units: 2,
    };
    const applied = await post('/saga/apply', step);
    expect(applied).toMatchObject({ status: 200, body: { ...step, state: 'applied' } });
    expect((await post('/saga/apply', step)).body).toEqual(applied.body);
    refused(
      await post('/saga/apply', { ...step, key: 'g-http-other:imaging', gtid: 'g-http-other' }),
      409,
      'insufficient-capacity',
    );
    const released = await post('/saga/release', { key: step.key, gtid: step.gtid });
    expect(released).toMatchObject({ status: 200, body: { key: step.key, state: 'released', returned: 2 } });
    refused(await post('/saga/apply', step), 409, 'claim-released');
    expect(await post('/saga/release', { key: 'g-http-first:imaging', gtid: 'g-http-first' })).toMatchObject({
      status: 200,
      body: { state: 'released', returned: 0 },
    });
    const claims = await get(`/claims?gtid=${step.gtid}`);
    expect(claims).toMatchObject({ status: 200, body: [{ key: step.key, mode: 'saga', state: 'released' }] });
    expect((await get('/resources/imaging:MR:2026-12-07')).body).toMatchObject({ taken: 0, available: 3 });
  });

  it('holds on try, confirms once, refuses the cancel after it and the try after a cancel', async () => {
    await put('imaging:US:2026-12-07', { capacity: 5 });
    const branch = { gtid: 'g-http-tcc', branch: 'pacs' };
    expect(await post('/tcc/try', { ...branch, resource: 'imaging:US:2026-12-07', units: 2 })).toMatchObject({
      status: 200,
      body: { state: 'held', units: 2 },
    });
    expect((await get('/resources/imaging:US:2026-12-07')).body).toMatchObject({ held: 2, available: 3 });
    expect(await post('/tcc/confirm', branch)).toMatchObject({
      status: 200,
      body: { state: 'applied', units: 2 },
    });
    expect(await post('/tcc/confirm', branch)).toMatchObject({
      status: 200,
      body: { state: 'applied', units: 2 },
    });
    refused(await post('/tcc/cancel', branch), 409, 'branch-settled');
    const early = { gtid: 'g-http-tcc-early', branch: 'pacs' };
    expect(await post('/tcc/cancel', early)).toMatchObject({
      status: 200,
      body: { state: 'released', units: 0 },
    });
    refused(
      await post('/tcc/try', { ...early, resource: 'imaging:US:2026-12-07', units: 1 }),
      409,
      'branch-cancelled',
    );
    expect((await get('/resources/imaging:US:2026-12-07')).body).toMatchObject({
      held: 0,
      taken: 2,
      available: 3,
    });
  });

  it('answers bad bodies, other kinds, unknown resources and oversized units with a 4xx, writing nothing', async () => {
    await put('imaging:XA:2026-12-07', { capacity: 2 });
    const before = await snapshot();
    const step = {
      key: 'g-http-bad:imaging',
      gtid: 'g-http-bad',
      resource: 'imaging:XA:2026-12-07',
      units: 1,
    };
    for (const body of [
      { ...step, units: '1' },
      { ...step, units: 0 },
      { ...step, units: 10_001 },
      { ...step, units: 1.5 },
      { ...step, key: undefined },
      { ...step, gtid: 'no spaces please' },
      { ...step, resource: 'imaging' },
      { ...step, extra: true },
      [step],
    ])
      refused(await post('/saga/apply', body), 400);
    refused(await call('POST', '/api/capacity/saga/apply', undefined, '{"key":'), 400);
    refused(
      await call('POST', '/api/capacity/saga/apply', undefined, JSON.stringify(step), 'text/plain'),
      400,
    );
    refused(await post('/saga/apply', { ...step, resource: 'slot:0b6a5c1e' }), 400, 'unsupported-resource');
    refused(
      await post('/saga/apply', { ...step, resource: 'imaging:CT:2026-13-01' }),
      400,
      'unsupported-resource',
    );
    refused(
      await post('/saga/apply', { ...step, resource: 'imaging:NM:2026-12-07' }),
      404,
      'unknown-resource',
    );
    refused(await post('/saga/apply', { ...step, units: 3 }), 409, 'insufficient-capacity');
    refused(
      await post('/tcc/try', { gtid: step.gtid, branch: 'pacs', resource: step.resource, units: 3 }),
      409,
      'insufficient-capacity',
    );
    refused(await post('/tcc/try', { gtid: step.gtid, branch: 'pacs', resource: step.resource }), 400);
    refused(await post('/tcc/confirm', { gtid: step.gtid, branch: 'pacs' }), 409, 'branch-settled');
    refused(await post('/tcc/cancel', { gtid: step.gtid }), 400);
    refused(await post('/saga/release', { key: step.key }), 400);
    refused(await get('/resources/imaging:NM:2026-12-07'), 404, 'unknown-resource');
    refused(await get('/resources/not-an-id'), 400);
    refused(await get('/claims'), 400);
    refused(await put('imaging:XA:2026-12-08', { capacity: -1 }), 400);
    refused(await put('imaging:XA:2026-12-08', {}), 400);
    refused(await put('drug:197361@icu', { capacity: 1 }), 400, 'unsupported-resource');
    expect(await snapshot()).toEqual(before);
  });

  it('never sets a capacity below what is taken and held', async () => {
    await put('imaging:CR:2026-12-07', { capacity: 4 });
    await post('/saga/apply', {
      key: 'g-http-cap:imaging',
      gtid: 'g-http-cap',
      resource: 'imaging:CR:2026-12-07',
      units: 2,
    });
    await post('/tcc/try', {
      gtid: 'g-http-cap-tcc',
      branch: 'pacs',
      resource: 'imaging:CR:2026-12-07',
      units: 1,
    });
    refused(await put('imaging:CR:2026-12-07', { capacity: 2 }), 409, 'capacity-in-use');
    expect(await put('imaging:CR:2026-12-07', { capacity: 3 })).toMatchObject({
      status: 200,
      body: { available: 0 },
    });
  });

  it('describes the routes in the OpenAPI document', async () => {
    const document = await call('GET', '/api/docs-json');
    const paths = Object.keys((document.body as { paths: Record<string, unknown> }).paths);
    expect(paths).toEqual(
      expect.arrayContaining([
        '/api/capacity/resources/{resource}',
        '/api/capacity/claims',
        '/api/capacity/saga/apply',
        '/api/capacity/saga/release',
        '/api/capacity/tcc/try',
        '/api/capacity/tcc/confirm',
        '/api/capacity/tcc/cancel',
      ]),
    );
  });
});
