import { INestApplication } from '@nestjs/common';
import { Database, Session } from '@hospital/platform';
import { createTestDatabase } from '@hospital/platform/testing/test-database';
import { eventually, freePort } from '@hospital/platform/testing/waiting';
import {
  BRANCH_WORK,
  BranchWork,
  MessagingModule,
  newGtid,
  Outbox,
  PostgresTwoPhaseLog,
  RetentionSweep,
  transactionLogMigrations,
  TwoPhaseCommitModule,
  TwoPhaseParticipant,
} from '@hospital/transactions';
import { messagingMigrations, startTestService, testServiceConfig } from './support/service-apps';
import { testAuthorizationFor } from '@hospital/platform/testing/access-token';

/**
 * What an operator sees and does in a 2PC service, over real HTTP against real Nest apps on their own
 * fresh PostgreSQL databases: a coordinator (`emr`) and a participant (`lis`), each with recovery sweeps
 * only at start-up so that what a test leaves in doubt stays in doubt until the operator acts.
 */
jest.setTimeout(30_000);

const IN_DOUBT_AFTER_MS = 200;

/** The participant's business step: one order row per branch. */
const work: BranchWork<Session> = async (tx, payload) => {
  const { id } = payload as { id: string };
  await tx.query('INSERT INTO orders (id) VALUES ($1)', [id]);
};

function serviceConfig(name: string, port: number, database: string, peers: Record<string, string>) {
  return testServiceConfig({
    name,
    port,
    database,
    peers: { emr: peers.EMR_URL, lis: peers.LIS_URL, pacs: peers.PACS_URL },
    env: {
      TX_RECOVERY_INTERVAL_MS: '0',
      TX_IN_DOUBT_AFTER_MS: String(IN_DOUBT_AFTER_MS),
      TX_RETENTION_HOURS: '1',
    },
  });
}

/** The value of one sample of `/metrics`, by name and labels (`undefined` when absent). */
async function metric(
  url: string,
  name: string,
  labels: Record<string, string> = {},
): Promise<number | undefined> {
  const text = await (await fetch(`${url}/metrics`)).text();
  for (const line of text.split('\n')) {
    const match = /^([a-z_]+)(?:\{([^}]*)\})? (\S+)$/.exec(line);
    if (!match || match[1] !== name) continue;
    const found = Object.fromEntries(
      (match[2] ?? '')
        .split(',')
        .filter(Boolean)
        .map((pair) => {
          const [key, value] = pair.split('=');
          return [key, JSON.parse(value) as string];
        }),
    );
    if (Object.entries(labels).every(([key, value]) => found[key] === value)) return Number(match[3]);
  }
  return undefined;
}

async function post(
  url: string,
  body: unknown,
  raw?: string,
): Promise<{ status: number; body: Record<string, unknown> }> {
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: testAuthorizationFor(url) },
    body: raw ?? JSON.stringify(body),
  });
  const text = await response.text();
  return { status: response.status, body: text ? (JSON.parse(text) as Record<string, unknown>) : {} };
}

async function get<T>(url: string): Promise<T> {
  const response = await fetch(url, { headers: { authorization: testAuthorizationFor(url) } });
  expect(response.status).toBe(200);
  return (await response.json()) as T;
}

interface InDoubtItem {
  role: string;
  gtid: string;
  coordinator: string;
  state: string;
  since: string;
  ageSeconds: number;
  overdue: boolean;
}

describe('in-doubt transactions: gauges, listing and resolution over HTTP', () => {
  const drops: (() => Promise<void>)[] = [];
  let coordinatorDb: Database;
  let participantDb: Database;
  let coordinatorApp: INestApplication;
  let participantApp: INestApplication;
  let emr: string;
  let lis: string;

  beforeAll(async () => {
    const migrations = transactionLogMigrations;
    const [c, p] = [
      await createTestDatabase('txops', migrations),
      await createTestDatabase('txops', migrations),
    ];
    drops.push(c.drop, p.drop);
    coordinatorDb = new Database(c.settings, 'txops-test');
    participantDb = new Database(p.settings, 'txops-test');
    await participantDb.query('CREATE TABLE orders (id text PRIMARY KEY)');
    const [emrPort, lisPort, deadPort] = [await freePort(), await freePort(), await freePort()];
    emr = `http://127.0.0.1:${emrPort}`;
    lis = `http://127.0.0.1:${lisPort}`;
    // `pacs` is a coordinator nobody can reach: nothing listens on its port.
    const peers = { EMR_URL: emr, LIS_URL: lis, PACS_URL: `http://127.0.0.1:${deadPort}` };
    participantApp = await startTestService(serviceConfig('lis', lisPort, p.settings.database, peers), [
      TwoPhaseCommitModule.forFeature({ participant: true }, [{ provide: BRANCH_WORK, useValue: work }]),
    ]);
    coordinatorApp = await startTestService(serviceConfig('emr', emrPort, c.settings.database, peers), [
      TwoPhaseCommitModule.forFeature({ participants: ['lis'] }),
    ]);
  }, 60_000);

  afterAll(async () => {
    await coordinatorApp?.close();
    await participantApp?.close();
    await coordinatorDb?.close();
    await participantDb?.close();
    for (const drop of drops) await drop();
  });

  const participant = () =>
    participantApp.get<TwoPhaseParticipant<Session>>(TwoPhaseParticipant, { strict: false });
  const log = () => new PostgresTwoPhaseLog(coordinatorDb);
  /** A branch left prepared at the participant, as when its coordinator died after the vote. */
  const leavePrepared = async (coordinator: string): Promise<string> => {
    const gtid = newGtid();
    expect(await participant().prepare(gtid, coordinator, { id: gtid })).toEqual({ vote: 'yes' });
    return gtid;
  };
  const preparedGids = async (): Promise<string[]> =>
    (
      await participantDb.query<{ gid: string }>(
        'SELECT gid FROM pg_prepared_xacts WHERE database = current_database()',
      )
    ).map((r) => r.gid);
  const isPrepared = async (gtid: string) => (await preparedGids()).some((gid) => gid.includes(gtid));
  const orderExists = async (gtid: string) =>
    (await participantDb.query('SELECT 1 FROM orders WHERE id = $1', [gtid])).length === 1;
  const resolutionsOf = (db: Database, gtid: string) =>
    db.query<Record<string, unknown>>('SELECT * FROM tx_resolution WHERE gtid = $1 ORDER BY id', [gtid]);
  const inDoubt = async (url: string) =>
    (await get<{ transactions: InDoubtItem[] }>(`${url}/api/transactions/in-doubt`)).transactions;

  describe('on a participant', () => {
    it('shows a prepared branch left behind in the oldest-age gauge, the in-doubt count and the list', async () => {
      const gtid = await leavePrepared('emr');
      // The count goes up once the branch is older than TX_IN_DOUBT_AFTER_MS.
      const count = await eventually(
        () => metric(lis, 'hospital_tx_in_doubt', { role: 'participant', service: 'lis' }),
        (n) => n === 1,
      );
      expect(count).toBe(1);
      expect(await metric(lis, 'hospital_tx_prepared_oldest_age_seconds')).toBeGreaterThanOrEqual(
        IN_DOUBT_AFTER_MS / 1000,
      );
      const listed = (await inDoubt(lis)).find((t) => t.gtid === gtid);
      expect(listed).toMatchObject({
        role: 'participant',
        gtid,
        coordinator: 'emr',
        state: 'prepared',
        overdue: true,
      });
      expect(listed?.ageSeconds).toBeGreaterThanOrEqual(IN_DOUBT_AFTER_MS / 1000);
      expect(Date.parse(listed?.since ?? '')).toBeLessThanOrEqual(Date.now());

      // Presumed abort: the coordinator has no decision, so resolving asks it and aborts.
      const resolved = await post(`${lis}/api/transactions/in-doubt/${gtid}/resolve`, {
        decision: 'abort',
        operator: 'oncall.a',
        reason: 'INC-1: coordinator restarted without a decision',
      });
      expect(resolved.status).toBe(200);
      expect(await isPrepared(gtid)).toBe(false);
      expect(await metric(lis, 'hospital_tx_in_doubt', { role: 'participant' })).toBe(0);
      expect(await metric(lis, 'hospital_tx_prepared_oldest_age_seconds')).toBe(0);
    });

    it('follows the coordinator when it answers, and refuses with 409 a decision that contradicts it', async () => {
      const gtid = await leavePrepared('emr');
      await log().begin(gtid, ['lis']);
      // The coordinator decided COMMIT and then died before phase two.
      expect(await log().decideCommit(gtid, [{ participant: 'lis', state: 'prepared' }])).toBe('commit');

      const refused = await post(`${lis}/api/transactions/in-doubt/${gtid}/resolve`, {
        decision: 'abort',
        operator: 'oncall.b',
        reason: 'locks on the lab orders table',
      });
      expect(refused.status).toBe(409);
      expect(String(refused.body.message)).toMatch(/decided commit/);
      expect(await isPrepared(gtid)).toBe(true);
      expect(await resolutionsOf(participantDb, gtid)).toEqual([]);

      const resolved = await post(`${lis}/api/transactions/in-doubt/${gtid}/resolve`, {
        decision: 'commit',
        operator: 'oncall.b',
        reason: 'locks on the lab orders table',
      });
      expect(resolved.status).toBe(200);
      expect(resolved.body).toMatchObject({
        gtid,
        role: 'participant',
        coordinator: 'emr',
        requested: 'commit',
        decision: 'commit',
        heuristic: false,
        operator: 'oncall.b',
        reason: 'locks on the lab orders table',
        outcome: 'applied',
      });
      expect(await isPrepared(gtid)).toBe(false);
      expect(await orderExists(gtid)).toBe(true);
      const [row] = await resolutionsOf(participantDb, gtid);
      expect(row).toMatchObject({
        operator: 'oncall.b',
        heuristic: false,
        decision: 'commit',
        outcome: 'applied',
      });
    });

    it('applies the operator’s decision as a heuristic one when the coordinator cannot be reached, and records who and why', async () => {
      const gtid = await leavePrepared('pacs');
      await eventually(
        async () => (await inDoubt(lis)).find((t) => t.gtid === gtid)?.overdue,
        (overdue) => overdue === true,
      );
      const resolved = await post(`${lis}/api/transactions/in-doubt/${gtid}/resolve`, {
        decision: 'abort',
        operator: 'oncall.c',
        reason: 'INC-2: PACS coordinator down for hours, ward blocked',
      });
      expect(resolved.status).toBe(200);
      expect(resolved.body).toMatchObject({ decision: 'abort', heuristic: true, outcome: 'applied' });
      expect(await isPrepared(gtid)).toBe(false);
      expect(await orderExists(gtid)).toBe(false);
      const rows = await resolutionsOf(participantDb, gtid);
      expect(rows).toHaveLength(1);
      expect(rows[0]).toMatchObject({
        role: 'participant',
        coordinator: 'pacs',
        requested: 'abort',
        decision: 'abort',
        heuristic: true,
        operator: 'oncall.c',
        reason: 'INC-2: PACS coordinator down for hours, ward blocked',
        outcome: 'applied',
      });
      expect(rows[0].created_at).toBeInstanceOf(Date);
      expect(rows[0].finished_at).toBeInstanceOf(Date);
      const history = await get<Record<string, unknown>[]>(
        `${lis}/api/transactions/in-doubt/resolutions?gtid=${gtid}`,
      );
      expect(history).toEqual([expect.objectContaining({ gtid, operator: 'oncall.c', heuristic: true })]);
    });

    it('answers a bad resolve request with a 4xx and changes nothing', async () => {
      const gtid = await leavePrepared('pacs');
      const good = { decision: 'abort', operator: 'oncall.d', reason: 'ticket INC-3' };
      const cases: [string, string, unknown, number, string?][] = [
        ['an empty body', gtid, {}, 400],
        ['no reason', gtid, { decision: 'abort', operator: 'oncall.d' }, 400],
        ['a blank reason', gtid, { ...good, reason: '   ' }, 400],
        ['a reason over two lines', gtid, { ...good, reason: 'one\ntwo' }, 400],
        ['no operator', gtid, { decision: 'abort', reason: 'x' }, 400],
        ['an operator too long', gtid, { ...good, operator: 'o'.repeat(101) }, 400],
        ['an unknown decision', gtid, { ...good, decision: 'maybe' }, 400],
        ['an unknown field', gtid, { ...good, force: true }, 400],
        ['a coordinator that is no service name', gtid, { ...good, coordinator: 'PACS; DROP' }, 400],
        ['a malformed gtid', 'not%20a%20gtid', good, 400],
        ['malformed JSON', gtid, undefined, 400, '{"decision": "abort", '],
        ['a gtid nothing is in doubt for', newGtid(), good, 404],
        // Young or not, a branch of another coordinator is not this one.
        ['a branch of another coordinator', gtid, { ...good, coordinator: 'emr' }, 404],
      ];
      for (const [what, id, body, status, raw] of cases) {
        const answer = await post(`${lis}/api/transactions/in-doubt/${id}/resolve`, body, raw);
        expect({ what, status: answer.status }).toEqual({ what, status });
      }
      expect(await isPrepared(gtid)).toBe(true);
      expect(await resolutionsOf(participantDb, gtid)).toEqual([]);
      const [{ n }] = await participantDb.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM tx_resolution WHERE operator = 'oncall.d'`,
      );
      expect(n).toBe(0);
      const query = await fetch(`${lis}/api/transactions/in-doubt/resolutions?limit=0`, {
        headers: { authorization: testAuthorizationFor('/api/transactions') },
      });
      expect(query.status).toBe(400);
      // Cleaned up by the operator the proper way.
      await eventually(
        async () => (await inDoubt(lis)).find((t) => t.gtid === gtid)?.overdue,
        (overdue) => overdue === true,
      );
      expect((await post(`${lis}/api/transactions/in-doubt/${gtid}/resolve`, good)).status).toBe(200);
    });
  });

  describe('on a coordinator', () => {
    it('counts and lists a transaction stuck preparing, refuses to commit it, and aborts it with the resolution on its timeline', async () => {
      const gtid = newGtid();
      await log().begin(gtid, ['lis']);
      const listed = await eventually(
        async () => (await inDoubt(emr)).find((t) => t.gtid === gtid),
        (item) => item?.overdue === true,
      );
      expect(listed).toMatchObject({
        role: 'coordinator',
        coordinator: 'emr',
        state: 'preparing',
        overdue: true,
      });
      // The gauge counts what the list shows overdue (earlier tests left others behind on purpose).
      const overdue = (await inDoubt(emr)).filter((t) => t.role === 'coordinator' && t.overdue).length;
      expect(overdue).toBeGreaterThanOrEqual(1);
      expect(await metric(emr, 'hospital_tx_in_doubt', { role: 'coordinator', service: 'emr' })).toBe(
        overdue,
      );

      const refused = await post(`${emr}/api/transactions/in-doubt/${gtid}/resolve`, {
        decision: 'commit',
        operator: 'oncall.e',
        reason: 'looks done',
      });
      expect(refused.status).toBe(409);
      expect(await log().state(gtid)).toBe('preparing');
      expect(await resolutionsOf(coordinatorDb, gtid)).toEqual([]);

      const resolved = await post(`${emr}/api/transactions/in-doubt/${gtid}/resolve`, {
        decision: 'abort',
        operator: 'oncall.e',
        reason: 'INC-4: stuck since the EMR restart',
      });
      expect(resolved.status).toBe(200);
      expect(resolved.body).toMatchObject({
        role: 'coordinator',
        decision: 'abort',
        heuristic: false,
        acknowledged: true,
        outcome: 'applied',
      });
      expect(await log().state(gtid)).toBe('aborted');
      const record = await get<{ timeline: { event: string }[] }>(`${emr}/api/transactions/${gtid}`);
      expect(record.timeline.map((e) => e.event)).toContainEqual(
        expect.stringMatching(new RegExp(`^resolution ${String(resolved.body.id)} by oncall.e: abort$`)),
      );
      expect((await inDoubt(emr)).some((t) => t.gtid === gtid)).toBe(false);
    });

    it('re-drives phase two of a committing transaction now, and refuses to abort it', async () => {
      const gtid = await leavePrepared('emr');
      await log().begin(gtid, ['lis']);
      expect(await log().decideCommit(gtid, [{ participant: 'lis', state: 'prepared' }])).toBe('commit');
      const body = { operator: 'oncall.f', reason: 'INC-5: lab waits for the order' };

      const refused = await post(`${emr}/api/transactions/in-doubt/${gtid}/resolve`, {
        ...body,
        decision: 'abort',
      });
      expect(refused.status).toBe(409);
      expect(await isPrepared(gtid)).toBe(true);

      const resolved = await post(`${emr}/api/transactions/in-doubt/${gtid}/resolve`, {
        ...body,
        decision: 'commit',
      });
      expect(resolved.status).toBe(200);
      expect(resolved.body).toMatchObject({ decision: 'commit', acknowledged: true, outcome: 'applied' });
      expect(await orderExists(gtid)).toBe(true);
      expect(await isPrepared(gtid)).toBe(false);
      expect(await log().state(gtid)).toBe('committed');
      expect(await resolutionsOf(coordinatorDb, gtid)).toEqual([
        expect.objectContaining({
          role: 'coordinator',
          operator: 'oncall.f',
          decision: 'commit',
          outcome: 'applied',
        }),
      ]);
    });

    it('answers 404 for a finished transaction and changes nothing', async () => {
      const gtid = newGtid();
      await log().decideAbort(gtid, 'voted no');
      const answer = await post(`${emr}/api/transactions/in-doubt/${gtid}/resolve`, {
        decision: 'abort',
        operator: 'oncall.g',
        reason: 'checking',
      });
      expect(answer.status).toBe(404);
      expect(await resolutionsOf(coordinatorDb, gtid)).toEqual([]);
    });
  });

  it('documents the in-doubt endpoints in OpenAPI, with the resolve body', async () => {
    const document = await get<{
      paths: Record<string, Record<string, unknown>>;
      components: { schemas: Record<string, { required?: string[] }> };
    }>(`${lis}/api/docs-json`);
    expect(Object.keys(document.paths)).toEqual(
      expect.arrayContaining([
        '/api/transactions/in-doubt',
        '/api/transactions/in-doubt/resolutions',
        '/api/transactions/in-doubt/{gtid}/resolve',
      ]),
    );
    expect(document.components.schemas.ResolveInDoubtDto.required).toEqual(
      expect.arrayContaining(['decision', 'operator', 'reason']),
    );
  });

  it('prunes finished global transactions and branch rows past TX_RETENTION_HOURS on its sweep, and keeps the rest', async () => {
    const old = { committed: newGtid(), aborted: newGtid(), committing: newGtid(), preparing: newGtid() };
    const recent = newGtid();
    for (const [state, gtid] of Object.entries(old)) {
      await coordinatorDb.query(
        `INSERT INTO tx_global (gtid, style, state, created_at, updated_at)
         VALUES ($1, '2pc', $2, now() - interval '2 hours', now() - interval '2 hours')`,
        [gtid, state],
      );
    }
    await coordinatorDb.query(`INSERT INTO tx_global (gtid, style, state) VALUES ($1, '2pc', 'committed')`, [
      recent,
    ]);
    const [oldBranch, newBranch] = [newGtid(), newGtid()];
    await participantDb.query(
      `INSERT INTO tx_participant_branch (gtid, coordinator, state, created_at)
       VALUES ($1, 'emr', 'aborted', now() - interval '2 hours'), ($2, 'emr', 'committed', now())`,
      [oldBranch, newBranch],
    );

    expect(await coordinatorApp.get(RetentionSweep, { strict: false }).runOnce()).toBeGreaterThanOrEqual(2);
    expect(await participantApp.get(RetentionSweep, { strict: false }).runOnce()).toBeGreaterThanOrEqual(1);

    const left = await coordinatorDb.query<{ gtid: string }>(
      'SELECT gtid FROM tx_global WHERE gtid = ANY($1)',
      [[...Object.values(old), recent]],
    );
    expect(left.map((r) => r.gtid).sort()).toEqual([old.committing, old.preparing, recent].sort());
    const branches = await participantDb.query<{ gtid: string }>(
      'SELECT gtid FROM tx_participant_branch WHERE gtid = ANY($1)',
      [[oldBranch, newBranch]],
    );
    expect(branches.map((r) => r.gtid)).toEqual([newBranch]);
  });
});

describe('outbox backlog gauges over HTTP', () => {
  let db: Database;
  let drop: () => Promise<void>;
  let app: INestApplication;
  let url: string;

  beforeAll(async () => {
    const created = await createTestDatabase('txops_outbox', messagingMigrations);
    drop = created.drop;
    db = new Database(created.settings, 'txops-test');
    const port = await freePort();
    url = `http://127.0.0.1:${port}`;
    const config = testServiceConfig({
      name: 'pharmacy',
      port,
      database: created.settings.database,
      // No relay: what is written stays unsent.
      env: { OUTBOX_RELAY: 'false', MESSAGING_NAMESPACE: `ops-${newGtid().slice(0, 8)}` },
    });
    app = await startTestService(config, [MessagingModule.forRoot({ outbox: true })]);
  }, 60_000);

  afterAll(async () => {
    await app?.close();
    await db?.close();
    await drop?.();
  });

  it('reports the age of the oldest unsent outbox row, and 0 once it is sent', async () => {
    const outbox = app.get(Outbox, { strict: false });
    await db.transaction((tx) =>
      outbox.append(tx, [
        { exchange: 'pharmacy.events', routingKey: 'k', type: 't', aggregateId: 'agg-1', payload: {} },
      ]),
    );
    const age = await eventually(
      () => metric(url, 'hospital_outbox_oldest_pending_seconds'),
      (seconds) => (seconds ?? 0) > 0.05,
    );
    expect(age).toBeGreaterThan(0.05);
    expect(await metric(url, 'hospital_outbox_pending_messages')).toBe(1);
    await db.query('UPDATE tx_outbox SET published_at = clock_timestamp()');
    expect(await metric(url, 'hospital_outbox_oldest_pending_seconds')).toBe(0);
    expect(await metric(url, 'hospital_outbox_pending_messages')).toBe(0);
  });
});
