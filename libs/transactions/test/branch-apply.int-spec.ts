import { BadRequestException, INestApplication } from '@nestjs/common';
import { Database, Session } from '@hospital/platform';
import { createTestDatabase } from '@hospital/platform/testing/test-database';
import { testServiceAuthorization } from '@hospital/platform/testing/service-auth';
import {
  BranchWork,
  newGtid,
  THREE_PHASE_BRANCH_WORK,
  ThreePhaseCommitModule,
  threePhaseMigrations,
} from '@hospital/transactions';
import { startTestService, testServiceConfig } from './support/service-apps';

/**
 * `POST /internal/branch/apply` (measurement only) on real Nest apps over real HTTP and a fresh
 * PostgreSQL database: a 3PC participant's branch step in one plain local transaction, once per call,
 * for its configured peers only, and not there at all unless TX_UNCOORDINATED_APPLY=true.
 */
jest.setTimeout(60_000);

/** The ports of this suite (the bench's range, 3940–3949). */
const OPEN_PORT = 3940;
const CLOSED_PORT = 3941;

/** A consult part row; `refuse` fails the step before it writes, `failAfterWrite` after. */
const partBranch: BranchWork<Session> = async (tx, payload, gtid) => {
  const part = payload as { id?: unknown; failAfterWrite?: unknown } | null;
  if (typeof part?.id !== 'string') throw new BadRequestException('consult part payload needs an id');
  await tx.query('INSERT INTO consult_part (id, gtid) VALUES ($1, $2)', [part.id, gtid]);
  if (part.failAfterWrite === true) throw new BadRequestException(`consult part ${part.id} refused`);
};

describe('uncoordinated branch apply (measurement only)', () => {
  const apps: INestApplication[] = [];
  const drops: (() => Promise<void>)[] = [];
  let db: Database;

  async function start(name: string, port: number, open: boolean): Promise<Database> {
    const { settings, drop } = await createTestDatabase(`apply-${name}`, threePhaseMigrations);
    drops.push(drop);
    const database = new Database(settings, 'branch-apply-test');
    await database.query('CREATE TABLE IF NOT EXISTS consult_part (id text NOT NULL, gtid text NOT NULL)');
    const config = testServiceConfig({
      name,
      port,
      database: settings.database,
      peers: { telemedicine: 'http://127.0.0.1:1' },
      env: {
        TX_RECOVERY_INTERVAL_MS: '0',
        TX_UNCOORDINATED_APPLY: open ? 'true' : 'false',
      },
    });
    apps.push(
      await startTestService(config, [
        ThreePhaseCommitModule.forFeature({ participant: true }, [
          { provide: THREE_PHASE_BRANCH_WORK, useValue: partBranch },
        ]),
      ]),
    );
    return database;
  }

  beforeAll(async () => {
    db = await start('emr', OPEN_PORT, true);
    await (await start('referral-inbox', CLOSED_PORT, false)).close();
  });

  afterAll(async () => {
    for (const app of apps) await app.close();
    await db.close();
    for (const drop of drops) await drop();
  });

  async function apply(
    body: unknown,
    options: { port?: number; caller?: string | null; audience?: string } = {},
  ): Promise<{ status: number; body: unknown }> {
    const headers: Record<string, string> = { 'content-type': 'application/json' };
    const caller = options.caller === undefined ? 'telemedicine' : options.caller;
    if (caller !== null) headers.authorization = testServiceAuthorization(caller, options.audience ?? 'emr');
    const response = await fetch(`http://127.0.0.1:${options.port ?? OPEN_PORT}/internal/branch/apply`, {
      method: 'POST',
      headers,
      body: JSON.stringify(body),
    });
    const text = await response.text();
    return { status: response.status, body: text === '' ? undefined : (JSON.parse(text) as unknown) };
  }

  const rows = async (id: string): Promise<number> =>
    Number(
      (await db.query<{ n: string }>('SELECT count(*) AS n FROM consult_part WHERE id = $1', [id]))[0].n,
    );

  it('applies the branch step once per call, committed in a local transaction of its own', async () => {
    const gtid = newGtid();
    expect(await apply({ gtid, payload: { id: 'part-1' } })).toEqual({
      status: 200,
      body: { applied: true },
    });
    expect(await rows('part-1')).toBe(1);
    // Nothing de-duplicates: a second call applies the step again (no protocol, no barrier).
    expect((await apply({ gtid, payload: { id: 'part-1' } })).status).toBe(200);
    expect(await rows('part-1')).toBe(2);
    expect(await db.query('SELECT gid FROM pg_prepared_xacts WHERE database = current_database()')).toEqual(
      [],
    );
  });

  it('refuses a bad payload or body with a 400, and rolls back a step that fails after writing', async () => {
    expect((await apply({ gtid: newGtid(), payload: { name: 'no id' } })).status).toBe(400);
    expect((await apply({ gtid: newGtid(), payload: { id: 'part-2', failAfterWrite: true } })).status).toBe(
      400,
    );
    expect(await rows('part-2')).toBe(0);
    expect((await apply({ payload: { id: 'part-3' } })).status).toBe(400);
    expect((await apply({ gtid: 'not a gtid!', payload: { id: 'part-3' } })).status).toBe(400);
    expect((await apply({ gtid: newGtid() })).status).toBe(400);
    expect(await rows('part-3')).toBe(0);
  });

  it('refuses a call without a service token, from a service that is not a peer, or for another audience', async () => {
    const body = { gtid: newGtid(), payload: { id: 'part-4' } };
    expect((await apply(body, { caller: null })).status).toBe(401);
    expect((await apply(body, { caller: 'pacs' })).status).toBe(403);
    expect((await apply(body, { audience: 'lis' })).status).toBe(403);
    expect(await rows('part-4')).toBe(0);
  });

  it('is not there where TX_UNCOORDINATED_APPLY is not true', async () => {
    const body = { gtid: newGtid(), payload: { id: 'part-5' } };
    expect((await apply(body, { port: CLOSED_PORT, audience: 'referral-inbox' })).status).toBe(404);
  });
});
