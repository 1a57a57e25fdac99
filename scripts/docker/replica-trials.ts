// One fault trial per transaction style against the hospital in Compose with two replicas of the scaled
// services: a load of the style's workflow spread over both replicas of the service that runs it, one
// replica killed (SIGKILL, kept down) in the middle of it, then the databases read until the survivors have
// settled every transaction: nothing acknowledged lost, nothing applied twice, nothing left in doubt.
// The killed replica is started again afterwards, so the next trial finds two.
//   2pc          record updates at the EMR (coordinator of the LIS and the PACS); an EMR replica killed
//   outbox       dispenses at the pharmacy (outbox → RabbitMQ → inventory); a pharmacy replica killed
//   saga, quota-saga, tcc
//                treatment plans at care-plans in that mode; a care-plans replica killed
//   3pc          consult completions at telemedicine (the EMR a participant); an EMR replica killed
//   two-phase messages
//                reorders from low stock at the supply chain (prepared at the message server); a supply
//                chain replica killed
import { randomUUID } from 'node:crypto';
import type { Role } from '@hospital/platform';
import { DatabaseClients } from '../lib/database-clients';
import { openSlots } from '../lib/demo-appointments';
import { recordUpdateBundle } from '../lib/sample-bundle';
import { oncologyCareTeam, treatmentPlan, wardDispense } from '../lib/sample-resources';
import { completeConsult, openConsult } from '../lib/telemedicine-cluster';
import { databaseName, devAuthorization } from '../services';
import type { Compose, ContainerState } from './compose';
import type { CheckResult } from './flows';
import { formatDuration, type Log, sleep } from './process';

/** How long each trial's load runs, and when into it the replica is killed. */
const LOAD_MS = 12_000;
const KILL_AT_MS = 4_000;
/** Requests in flight at once. */
const WORKERS = 4;
/** How long the survivors may take to settle (leases of the dead replica's transactions run out first). */
const SETTLE_MS = 120_000;
const FHIR_JSON = 'application/fhir+json';
const MRN_SYSTEM = 'urn:oid:1.2.36.146.595.217.0.1';
const DAY_MS = 86_400_000;

export interface TrialContext {
  compose: Compose;
  /** Published base URLs of the services that run one replica (`appointments`, `pharmacy-inventory`…). */
  published: (service: string) => string;
  /** The published PostgreSQL. */
  postgres: { host: string; port: number; user: string; password: string };
  log: Log;
}

/** What a trial's databases show once read: each list names examples, empty when the invariant holds. */
interface Verdict {
  lost: string[];
  duplicated: string[];
  inDoubt: string[];
  /** One line: what was found applied. */
  summary: string;
}

interface Answer {
  key: string;
  status: number | 'error';
  body?: string;
}

/** The replica-aware part of a trial: which service's replicas it loads and kills, and how it checks. */
interface Trial {
  style: string;
  /** The service a replica of which is killed. */
  victim: string;
  /** The victim's own port (its replicas are reached at their addresses on the project's network). */
  port: number;
  /** When into the load the replica is killed (KILL_AT_MS unless set). */
  killAtMs?: number;
  /** Where the load goes, when not to the victim's replicas themselves (e.g. 'at telemedicine'). */
  loadAt?: string;
  prepare?: (ctx: TrialContext, db: Databases) => Promise<void>;
  /** The `n`th request of the load against one replica at `base`. */
  request: (base: string, n: number, ctx: TrialContext) => Promise<Answer | undefined>;
  /** Reads the databases; `killedAt`: when the replica died. */
  check: (answers: readonly Answer[], db: Databases, killedAt: Date) => Promise<Verdict>;
}

/** One connection per service database of the Compose PostgreSQL. */
type Databases = DatabaseClients;

async function send(url: string, role: Role, method: string, body?: unknown): Promise<Answer> {
  try {
    const response = await fetch(url, {
      method,
      headers: {
        accept: FHIR_JSON,
        authorization: devAuthorization(role),
        ...(body === undefined ? {} : { 'content-type': FHIR_JSON }),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(20_000),
    });
    return { key: url, status: response.status, body: await response.text() };
  } catch (error) {
    return { key: url, status: 'error', body: error instanceof Error ? error.message : String(error) };
  }
}

const idOf = (answer: Answer): string | undefined => {
  try {
    return (JSON.parse(answer.body ?? '') as { id?: string }).id;
  } catch {
    return undefined;
  }
};

/** Prepared transactions PostgreSQL still holds in the services' databases. */
async function preparedIn(db: Databases, services: readonly string[]): Promise<string[]> {
  const rows = await db.rows<{ database: string; gid: string }>(
    services[0],
    'SELECT database, gid FROM pg_prepared_xacts WHERE database = ANY($1)',
    [services.map(databaseName)],
  );
  return rows.map((r) => `${r.database} ${r.gid}`);
}

// ── 2PC: record updates at the EMR ──────────────────────────────────────────────────────────────────────

function twoPhaseCommit(): Trial {
  const prefix = `REPL-${randomUUID().slice(0, 6)}`;
  const parts = ['emr', 'lis', 'pacs'] as const;
  return {
    style: '2pc',
    victim: 'emr',
    port: 3001,
    request: async (base, n) => ({
      ...(await send(`${base}/fhir`, 'clinician', 'POST', recordUpdateBundle(n, prefix))),
      key: `${prefix}-${n}`,
    }),
    check: async (answers, db) => {
      const counts = new Map<string, Record<string, number>>();
      for (const part of parts)
        for (const row of await db.rows<{ mrn: string; n: number }>(
          part,
          `SELECT i->>'value' AS mrn, count(*)::int AS n
             FROM fhir_resource, jsonb_array_elements(content->'identifier') i
            WHERE resource_type = 'Patient' AND NOT deleted AND i->>'system' = $1 AND i->>'value' LIKE $2
            GROUP BY 1`,
          [MRN_SYSTEM, `${prefix}-%`],
        ))
          counts.set(row.mrn, { ...(counts.get(row.mrn) ?? {}), [part]: row.n });
      const verdict: Verdict = { lost: [], duplicated: [], inDoubt: [], summary: '' };
      for (const answer of answers) {
        const found = counts.get(answer.key) ?? {};
        const copies = parts.map((p) => found[p] ?? 0);
        if (copies.some((c) => c > 1)) verdict.duplicated.push(`${answer.key}: ${copies.join('/')}`);
        else if (answer.status === 200 && copies.some((c) => c === 0))
          verdict.lost.push(`${answer.key} answered 200, held ${copies.join('/')} (EMR/LIS/PACS)`);
        else if (new Set(copies).size > 1) verdict.inDoubt.push(`${answer.key} split ${copies.join('/')}`);
      }
      const unfinished = await db.rows<{ gtid: string; state: string }>(
        'emr',
        `SELECT gtid, state FROM tx_global WHERE style = '2pc' AND state NOT IN ('committed', 'aborted')`,
      );
      verdict.inDoubt.push(...unfinished.map((u) => `${u.gtid} ${u.state}`));
      verdict.inDoubt.push(...(await preparedIn(db, parts)));
      const committed = [...counts.values()].filter((c) => parts.every((p) => c[p] === 1)).length;
      verdict.summary = `${committed} record updates in all of the EMR, the LIS and the PACS`;
      return verdict;
    },
  };
}

// ── 3PC: consult completions at telemedicine, the EMR a participant ────────────────────────────────────

/** Consults opened before the 3PC trial's load, each completed once by it. */
const CONSULTS = 160;

function threePhaseCommit(): Trial {
  const consults: string[] = [];
  /** The part each service writes of a completed consult, counted by the request it is based on. */
  const parts = {
    emr: "SELECT count(*)::int AS n FROM fhir_resource WHERE resource_type = 'DiagnosticReport' AND NOT deleted AND content->'basedOn' @> $1::jsonb",
    'referral-inbox':
      "SELECT count(*)::int AS n FROM fhir_resource WHERE resource_type = 'Communication' AND NOT deleted AND content->'basedOn' @> $1::jsonb",
    telemedicine:
      "SELECT count(*)::int AS n FROM fhir_resource WHERE resource_type = 'ServiceRequest' AND id = $1 AND content->>'status' = 'completed'",
  } as const;
  return {
    style: '3pc',
    victim: 'emr',
    port: 3001,
    loadAt: 'consult completions at telemedicine',
    // A completion takes a few hundred milliseconds: enough consults open that completions are still
    // running when the replica dies, two seconds in.
    killAtMs: 2_000,
    prepare: async (ctx) => {
      const opened = await Promise.all(
        Array.from({ length: 8 }, async (_, worker) => {
          const mine: string[] = [];
          for (let i = worker; i < CONSULTS; i += 8)
            mine.push(
              (
                await openConsult(
                  ctx.published('telemedicine'),
                  `pat-${String(10 + (i % 250)).padStart(4, '0')}`,
                )
              ).serviceRequestId,
            );
          return mine;
        }),
      );
      consults.push(...opened.flat());
    },
    // Telemedicine coordinates; the EMR replicas take its calls as a participant.
    request: async (_base, n, ctx) => {
      const id = consults[n];
      if (id === undefined) return undefined;
      const done = await completeConsult(ctx.published('telemedicine'), id, {
        authorization: devAuthorization('clinician'),
      });
      return { key: id, status: done.status ?? 'error', body: done.body };
    },
    check: async (answers, db) => {
      const verdict: Verdict = { lost: [], duplicated: [], inDoubt: [], summary: '' };
      let completed = 0;
      for (const answer of answers) {
        const basedOn = JSON.stringify([{ reference: `ServiceRequest/${answer.key}` }]);
        const copies: number[] = [];
        for (const [service, sql] of Object.entries(parts)) {
          const params = [service === 'telemedicine' ? answer.key : basedOn];
          const [{ n }] = await db.rows<{ n: number }>(service, sql, params);
          copies.push(n);
        }
        const shown = `${copies.join('/')} (EMR/inbox/telemedicine)`;
        if (copies.some((c) => c > 1)) verdict.duplicated.push(`consult ${answer.key}: ${shown}`);
        else if (answer.status === 200 && copies.some((c) => c === 0))
          verdict.lost.push(`consult ${answer.key} answered 200, held ${shown}`);
        else if (new Set(copies).size > 1) verdict.inDoubt.push(`consult ${answer.key} split ${shown}`);
        else if (copies[0] === 1) completed += 1;
      }
      const unfinished = await db.rows<{ gtid: string; state: string }>(
        'telemedicine',
        `SELECT gtid, state FROM tx_global WHERE style = '3pc' AND state NOT IN ('committed', 'aborted')`,
      );
      verdict.inDoubt.push(...unfinished.map((u) => `${u.gtid} ${u.state}`));
      verdict.inDoubt.push(...(await preparedIn(db, Object.keys(parts))));
      verdict.summary = `${completed} consults completed in the EMR, the inbox and telemedicine`;
      return verdict;
    },
  };
}

// ── Outbox: dispenses at the pharmacy ───────────────────────────────────────────────────────────────────

function outbox(): Trial {
  // A drug and ward the README's flows leave alone; each dispense takes one unit.
  const drug = '314076';
  const location = 'icu';
  let startedAt = '';
  return {
    style: 'outbox',
    victim: 'pharmacy',
    port: 3004,
    prepare: async (_ctx, db) => {
      [{ now: startedAt }] = await db.rows<{ now: string }>('pharmacy', 'SELECT now()::text AS now');
    },
    request: (base, n) =>
      send(
        `${base}/fhir/MedicationDispense`,
        'clinician',
        'POST',
        wardDispense(drug, location, `pat-${String(1 + (n % 200)).padStart(4, '0')}`, 1),
      ),
    check: async (answers, db) => {
      const dispensed = new Set(
        (
          await db.rows<{ id: string }>(
            'pharmacy',
            `SELECT id FROM fhir_resource
              WHERE resource_type = 'MedicationDispense' AND NOT deleted AND last_updated >= $1::timestamptz
                AND content->'location'->>'reference' = $2
                AND content->'medicationCodeableConcept'->'coding'->0->>'code' = $3`,
            [startedAt, `Location/${location}`, drug],
          )
        ).map((r) => r.id),
      );
      const applied = new Map<string, number>();
      for (const row of await db.rows<{ reference_id: string; n: number }>(
        'pharmacy-inventory',
        `SELECT reference_id, count(*)::int AS n FROM inventory_movement
          WHERE kind = 'dispense' AND medication_code = $1 AND location_id = $2 AND reference_id = ANY($3)
          GROUP BY 1`,
        [drug, location, [...dispensed]],
      ))
        applied.set(row.reference_id, row.n);
      const verdict: Verdict = { lost: [], duplicated: [], inDoubt: [], summary: '' };
      for (const answer of answers) {
        const id = idOf(answer);
        if (answer.status === 201 && (id === undefined || !dispensed.has(id)))
          verdict.lost.push(`dispense ${id ?? '?'} answered 201, not in the pharmacy`);
      }
      for (const id of dispensed) {
        const n = applied.get(id) ?? 0;
        if (n === 0) verdict.lost.push(`dispense ${id} not applied to the inventory`);
        if (n > 1) verdict.duplicated.push(`dispense ${id} applied ${n} times`);
      }
      const [{ unpublished }] = await db.rows<{ unpublished: number }>(
        'pharmacy',
        `SELECT count(*)::int AS unpublished FROM tx_outbox WHERE published_at IS NULL`,
      );
      if (unpublished > 0) verdict.inDoubt.push(`${unpublished} outbox message(s) not published`);
      verdict.summary = `${dispensed.size} dispenses in the pharmacy, ${applied.size} applied to the inventory`;
      return verdict;
    },
  };
}

// ── Two-phase messages: reorders at the supply chain ───────────────────────────────────────────────────

function twoPhaseMessages(): Trial {
  // Ward stock lines the other trials and the README's flows leave alone: one dispense takes each under its
  // reorder point (400 on hand, reorder at 100), so the inventory opens a reorder and the supply chain
  // places its purchase order as a two-phase message.
  const lines = ['313782', '198440', '243670', '308182', '1665060', '745679'].flatMap((drug) =>
    ['ward-3a', 'icu'].map((location) => ({ drug, location })),
  );
  let startedAt = '';
  return {
    style: 'two-phase messages',
    victim: 'pharmacy-supply-chain',
    port: 3042,
    loadAt: 'dispenses through the gateway, each taking a stock line under its reorder point',
    killAtMs: 1_500,
    prepare: async (_ctx, db) => {
      [{ now: startedAt }] = await db.rows<{ now: string }>(
        'pharmacy-supply-chain',
        'SELECT now()::text AS now',
      );
    },
    // The dispenses go to the pharmacy; a second apart, so reorders are in flight when the replica dies.
    request: async (_base, n, ctx) => {
      const line = lines[n];
      if (line === undefined) return undefined;
      await sleep(1_000);
      const answer = await send(
        `${ctx.published('gateway')}/fhir/MedicationDispense`,
        'clinician',
        'POST',
        wardDispense(line.drug, line.location, 'pat-0003', 310),
      );
      return { ...answer, key: `${line.drug}@${line.location}` };
    },
    check: async (answers, db, killedAt) => {
      const verdict: Verdict = { lost: [], duplicated: [], inDoubt: [], summary: '' };
      const reorders = await db.rows<{
        key: string;
        reorder_id: string;
        state: string;
        po: string | null;
        gtid: string | null;
        placed_at: Date | null;
      }>(
        'pharmacy-supply-chain',
        `SELECT r.medication_code || '@' || r.location_id AS key, r.reorder_id, r.state,
                p.purchase_order_id AS po, p.gtid, p.placed_at
           FROM supply_reorder r LEFT JOIN supply_purchase_order p USING (reorder_id)
          WHERE r.origin = 'stock-low' AND r.created_at >= $1::timestamptz`,
        [startedAt],
      );
      const messages = new Map(
        (
          await db.rows<{ gtid: string; state: string }>(
            'pharmacy-messages',
            'SELECT gtid, state FROM tx_message WHERE gtid = ANY($1)',
            [reorders.flatMap((r) => (r.gtid ? [r.gtid] : []))],
          )
        ).map((m) => [m.gtid, m.state]),
      );
      const [{ prepared }] = await db.rows<{ prepared: number }>(
        'pharmacy-messages',
        `SELECT count(*)::int AS prepared FROM tx_message WHERE state = 'prepared'`,
      );
      if (prepared > 0) verdict.inDoubt.push(`${prepared} message(s) still prepared at the message server`);
      for (const answer of answers.filter((a) => a.status === 201)) {
        const mine = reorders.filter((r) => r.key === answer.key);
        if (mine.length === 0)
          verdict.lost.push(`${answer.key}: dispensed under its reorder point, no reorder`);
        if (mine.length > 1) verdict.duplicated.push(`${answer.key}: ${mine.length} reorders`);
        for (const reorder of mine) {
          if (reorder.po === null)
            verdict.inDoubt.push(`${answer.key}: reorder ${reorder.reorder_id} ${reorder.state}, no order`);
          else if (!['submitted', 'delivered'].includes(messages.get(reorder.gtid ?? '') ?? ''))
            verdict.lost.push(
              `${answer.key}: order ${reorder.po} placed, its message ${messages.get(reorder.gtid ?? '') ?? 'missing'}`,
            );
        }
      }
      const placed = reorders.filter((r) => r.po !== null);
      const after = placed.filter((r) => r.placed_at !== null && r.placed_at > killedAt).length;
      verdict.summary = `${placed.length} purchase orders placed (${after} by the survivor after the kill), each once, their messages submitted`;
      return verdict;
    },
  };
}

// ── Saga, quota-cached saga, TCC: treatment plans at care-plans ────────────────────────────────────────

/** Each mode's consultant, modality and days of slots of its own (SLOT_DAYS from `firstDay` days ahead). */
const PLAN_MODES = {
  saga: { practitioner: 'prac-0001', modality: 'CT', firstDay: 40 },
  'quota-saga': { practitioner: 'prac-0003', modality: 'MR', firstDay: 50 },
  tcc: { practitioner: 'prac-0002', modality: 'US', firstDay: 60 },
} as const;
const SLOT_DAYS = 6;

const PLAN_FINAL: Record<keyof typeof PLAN_MODES, { active: string; revoked: string; log: string }> = {
  saga: { active: 'completed', revoked: 'aborted', log: 'tx_saga' },
  'quota-saga': { active: 'completed', revoked: 'aborted', log: 'tx_quota_saga' },
  tcc: { active: 'confirmed', revoked: 'cancelled', log: 'tx_tcc' },
};

const PARTICIPANTS = ['appointments', 'pacs', 'pharmacy-inventory'] as const;

function carePlans(mode: keyof typeof PLAN_MODES): Trial {
  const { practitioner, modality, firstDay } = PLAN_MODES[mode];
  const slots: string[] = [];
  let careTeam = '';
  let startedAt = '';
  return {
    style: mode,
    victim: 'care-plans',
    port: 3007,
    prepare: async (ctx, db) => {
      [{ now: startedAt }] = await db.rows<{ now: string }>('care-plans', 'SELECT now()::text AS now');
      careTeam = await createCareTeam(ctx.published('gateway'));
      const appointments = ctx.published('appointments');
      // Days of the practitioner's slots of its own, far enough ahead that no other plan holds them; a
      // plan sent on a slot an earlier one took is revoked (its steps before compensated or cancelled).
      await openSlots(appointments, practitioner, firstDay, SLOT_DAYS);
      for (let offset = firstDay; offset < firstDay + SLOT_DAYS; offset += 1) {
        const date = new Date(Math.floor(Date.now() / DAY_MS) * DAY_MS + offset * DAY_MS)
          .toISOString()
          .slice(0, 10);
        const free = await send(
          `${appointments}/api/slots/free?practitioner=${practitioner}&date=${date}`,
          'clinician',
          'GET',
        );
        if (free.status !== 200) throw new Error(`free slots: HTTP ${free.status}`);
        slots.push(...(JSON.parse(free.body ?? '[]') as { slotId: string }[]).map((s) => s.slotId));
      }
      const offered = await send(
        `${ctx.published('pharmacy-inventory')}/api/capacity/resources/drug:197361@main-pharmacy`,
        'administrator',
        'PUT',
        { capacity: 100_000 },
      );
      if (offered.status !== 200 && offered.status !== 201)
        throw new Error(`offering the plans' drug: HTTP ${offered.status}`);
    },
    request: async (base, n) => {
      const slot = slots[n % slots.length];
      const day = new Date(Date.now() + (1 + (n % 13)) * DAY_MS).toISOString().slice(0, 10);
      const answer = await send(
        `${base}/fhir/CarePlan?_mode=${mode}`,
        'clinician',
        'POST',
        treatmentPlan({
          patient: 'pat-0002',
          careTeamId: careTeam,
          practitioner,
          slotId: slot,
          modality,
          day,
          drug: '197361',
        }),
      );
      return { ...answer, key: slot };
    },
    check: async (answers, db) => {
      const final = PLAN_FINAL[mode];
      // Every plan of the mode since the trial began, those whose answers died with the replica included.
      const all = await db.rows<{ plan_id: string; gtid: string; status: string }>(
        'care-plans',
        'SELECT plan_id, gtid, status FROM care_plan WHERE mode = $1 AND created_at >= $2::timestamptz',
        [mode, startedAt],
      );
      const verdict: Verdict = { lost: [], duplicated: [], inDoubt: [], summary: '' };
      const unfinished = await db.rows<{ gtid: string; state: string }>(
        'care-plans',
        `SELECT gtid, state FROM ${final.log} WHERE state NOT IN ($1, $2)`,
        [final.active, final.revoked],
      );
      verdict.inDoubt.push(...unfinished.map((u) => `${mode} ${u.gtid} ${u.state}`));
      const drafts = await db.rows<{ plan_id: string }>(
        'care-plans',
        `SELECT plan_id FROM care_plan WHERE mode = $1 AND status NOT IN ('active', 'revoked')`,
        [mode],
      );
      verdict.inDoubt.push(...drafts.map((d) => `CarePlan/${d.plan_id} left in draft`));
      for (const answer of answers) {
        const id = idOf(answer);
        if (answer.status === 201 && !all.some((p) => p.plan_id === id && p.status === 'active'))
          verdict.lost.push(`CarePlan/${id ?? '?'} answered 201, not active`);
      }
      // Each plan's reservations at each participant: applied once when active, none applied or held when
      // revoked.
      for (const participant of PARTICIPANTS) {
        const claims = new Map<string, { applied: number; held: number }>();
        for (const row of await db.rows<{ gtid: string; applied: number; held: number }>(
          participant,
          `SELECT gtid, count(*) FILTER (WHERE state = 'applied')::int AS applied,
                  count(*) FILTER (WHERE state = 'held')::int AS held
             FROM tx_capacity_claim WHERE gtid = ANY($1) GROUP BY gtid`,
          [all.map((p) => p.gtid)],
        ))
          claims.set(row.gtid, row);
        for (const plan of all) {
          const claim = claims.get(plan.gtid) ?? { applied: 0, held: 0 };
          const what = `CarePlan/${plan.plan_id} (${plan.status}) at ${participant}`;
          if (plan.status === 'active' && claim.applied === 0) verdict.lost.push(`${what}: nothing applied`);
          if (plan.status === 'active' && claim.applied > 1)
            verdict.duplicated.push(`${what}: ${claim.applied} applied`);
          if (plan.status === 'revoked' && claim.applied > 0)
            verdict.duplicated.push(`${what}: ${claim.applied} applied though revoked`);
          if (claim.held > 0 && (plan.status === 'active' || plan.status === 'revoked'))
            verdict.inDoubt.push(`${what}: ${claim.held} hold(s) left`);
        }
      }
      const active = all.filter((p) => p.status === 'active').length;
      verdict.summary = `${active} plans active and ${all.length - active} revoked, each with its reservations`;
      return verdict;
    },
  };
}

async function createCareTeam(base: string): Promise<string> {
  const answer = await send(`${base}/fhir/CareTeam`, 'clinician', 'POST', oncologyCareTeam('pat-0002'));
  const id = answer.status === 201 ? idOf(answer) : undefined;
  if (!id) throw new Error(`care team: HTTP ${answer.status} ${answer.body?.slice(0, 200)}`);
  return id;
}

// ── The runner ──────────────────────────────────────────────────────────────────────────────────────────

/** The running replicas of `service`, at least two, with their base URLs on the project's network. */
async function replicasOf(
  compose: Compose,
  service: string,
  port: number,
): Promise<{ container: ContainerState; base: string }[]> {
  const running = (await compose.containers()).filter((c) => c.service === service && c.state === 'running');
  if (running.length < 2) throw new Error(`${running.length} replica(s) of ${service} running, not two`);
  return Promise.all(
    running.map(async (container) => ({
      container,
      base: `http://${await compose.address(container.name)}:${port}`,
    })),
  );
}

/** Until `ready` answers 200 at the container's address, or `timeoutMs`. */
async function waitUntilReady(base: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const answer = await fetch(`${base}/health/ready`, { signal: AbortSignal.timeout(3_000) }).catch(
      () => undefined,
    );
    if (answer?.status === 200) return;
    if (Date.now() > deadline) throw new Error(`${base} not ready after ${formatDuration(timeoutMs)}`);
    await sleep(1_000);
  }
}

const examples = (list: string[]): string =>
  `${list.length} (${list.slice(0, 2).join('; ')}${list.length > 2 ? '…' : ''})`;

async function runTrial(trial: Trial, ctx: TrialContext): Promise<CheckResult> {
  const began = Date.now();
  const name = `${trial.style}: one ${trial.victim} replica killed mid-load`;
  const db: Databases = new DatabaseClients((service) => ({
    ...ctx.postgres,
    database: databaseName(service),
  }));
  let down: string | undefined;
  try {
    const replicas = await replicasOf(ctx.compose, trial.victim, trial.port);
    await trial.prepare?.(ctx, db);
    const [victim, ...survivors] = replicas;
    let killed = false;
    let next = 0;
    const answers: Answer[] = [];
    const loadEnds = Date.now() + LOAD_MS;
    const worker = async (w: number): Promise<void> => {
      while (Date.now() < loadEnds) {
        const n = next++;
        // Each worker keeps to one replica until the kill (so the victim always has requests in flight
        // when it dies), then to the survivors.
        const targets = killed ? survivors : replicas;
        const target = targets[w % targets.length];
        const answer = await trial.request(target.base, n, ctx);
        if (answer === undefined) return;
        answers.push(answer);
      }
    };
    const load = Promise.all(Array.from({ length: WORKERS }, (_, w) => worker(w)));
    const killAt = trial.killAtMs ?? KILL_AT_MS;
    await sleep(killAt);
    down = victim.container.name;
    const killedAt = new Date();
    await ctx.compose.kill(down);
    killed = true;
    ctx.log(`${trial.style}: killed ${victim.container.name} after ${next} requests`);
    await load;
    const acknowledged = answers.filter((a) => a.status === 200 || a.status === 201).length;
    const unanswered = answers.filter((a) => a.status === 'error').length;

    // The survivors settle what the dead replica left: read until every invariant holds, or give up.
    const settleFrom = Date.now();
    let verdict: Verdict;
    for (;;) {
      verdict = await trial.check(answers, db, killedAt);
      const clean = verdict.lost.length + verdict.duplicated.length + verdict.inDoubt.length === 0;
      if (clean || Date.now() - settleFrom > SETTLE_MS) break;
      await sleep(2_000);
    }
    const settledMs = Date.now() - settleFrom;
    down = undefined;
    await revive(ctx, victim.container.name, trial.port);

    const failures = [
      verdict.lost.length > 0 ? `lost ${examples(verdict.lost)}` : '',
      verdict.duplicated.length > 0 ? `duplicated ${examples(verdict.duplicated)}` : '',
      verdict.inDoubt.length > 0 ? `in doubt ${examples(verdict.inDoubt)}` : '',
    ].filter(Boolean);
    const load_ = `${answers.length} requests (${acknowledged} acknowledged, ${unanswered} unanswered) ${trial.loadAt ?? `over the ${replicas.length} replicas`}, ${victim.container.name} killed at ${formatDuration(killAt)}`;
    if (failures.length > 0)
      return {
        name,
        ok: false,
        detail: `${load_}; after ${formatDuration(settledMs)}: ${failures.join('; ')}`,
        ms: Date.now() - began,
      };
    return {
      name,
      ok: acknowledged > 0,
      detail: `${load_}; settled ${formatDuration(settledMs)} later: ${verdict.summary}; 0 lost, 0 duplicated, 0 in doubt`,
      ms: Date.now() - began,
    };
  } catch (error) {
    return {
      name,
      ok: false,
      detail: error instanceof Error ? error.message : String(error),
      ms: Date.now() - began,
    };
  } finally {
    // The next trial (and `down`) expects both replicas, whatever happened to this one.
    if (down !== undefined)
      await revive(ctx, down, trial.port).catch((error: unknown) => ctx.log(`${down}: ${String(error)}`));
    await db.close();
  }
}

/** Starts a killed replica again and waits until it is ready. */
async function revive(ctx: TrialContext, container: string, port: number): Promise<void> {
  await ctx.compose.revive(container);
  await waitUntilReady(`http://${await ctx.compose.address(container)}:${port}`, 120_000);
}

/** The styles there is a trial of, in the order they run. */
export const TRIAL_STYLES = ['2pc', '3pc', 'outbox', 'two-phase messages', 'saga', 'quota-saga', 'tcc'];

/**
 * Every style's trial in turn (they share the hospital, so one at a time), or those of `only`, reported as
 * each ends.
 */
export async function runReplicaTrials(
  ctx: TrialContext,
  report: (result: CheckResult) => void,
  only?: readonly string[],
): Promise<CheckResult[]> {
  const trials = [
    twoPhaseCommit(),
    threePhaseCommit(),
    outbox(),
    twoPhaseMessages(),
    carePlans('saga'),
    carePlans('quota-saga'),
    carePlans('tcc'),
  ];
  const results: CheckResult[] = [];
  for (const trial of trials.filter((t) => only === undefined || only.includes(t.style))) {
    const result = await runTrial(trial, ctx);
    results.push(result);
    report(result);
  }
  return results;
}
