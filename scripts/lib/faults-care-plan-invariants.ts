// The invariants of a care-plan fault run, read straight from the databases (and the quota caches): every
// plan `active` with each reservation applied exactly once at its participant, or `revoked` with none
// applied or held; no plan left in draft and no transaction unfinished; the capacity accounting of every
// participant; for the quota-cached saga, what the main database lent equal to what its cache epochs still
// hold, and each live cache holding what its epoch lent it once no reservation is live.
import { AUDIT_RECORD_TYPE } from '@hospital/platform';
import { capacityAccountingViolations } from '@hospital/transactions/testing/capacity-accounting';
import { clientConfig } from './bench-cluster';
import { DatabaseClients } from './database-clients';
import { type CarePlanCluster, PARTICIPANT_OF, type PlanServiceName } from './care-plan-cluster';
import type { PlanAnswer } from './faults-care-plan-load';
import type { CarePlanParticipant, Finding } from './faults-care-plan-plan';
import { CARE_PLAN_PARTICIPANTS } from './faults-care-plan-plan';
import { sleep } from './faults-outbox-load';
import { devAuthorization } from '../services';

/** A plan as care-plans stored it: its row and its FHIR CarePlan. */
interface PlanRow {
  plan_id: string;
  gtid: string;
  mode: string;
  status: string;
  fhir_status: string | null;
  slot: string | null;
  tx_state: string | null;
}

interface ClaimRow {
  gtid: string;
  key: string;
  resource: string | null;
  units: number;
  state: string;
}

/** The final states of each log, by the plan status they go with. */
const FINAL_STATE: Record<string, Record<'active' | 'revoked', string>> = {
  saga: { active: 'completed', revoked: 'aborted' },
  'quota-saga': { active: 'completed', revoked: 'aborted' },
  tcc: { active: 'confirmed', revoked: 'cancelled' },
};

const PLANS_SQL = `
  SELECT p.plan_id, p.gtid, p.mode, p.status, f.content ->> 'status' AS fhir_status,
         (SELECT e -> 'valueReference' ->> 'reference'
            FROM jsonb_array_elements(f.content -> 'activity') a,
                 jsonb_array_elements(a -> 'detail' -> 'extension') e
           WHERE e ->> 'url' = 'urn:hospital:care-plans:slot' LIMIT 1) AS slot,
         t.state AS tx_state
    FROM care_plan p
    LEFT JOIN fhir_resource f ON f.resource_type = 'CarePlan' AND f.id = p.plan_id
    LEFT JOIN (SELECT gtid, state FROM tx_saga UNION ALL SELECT gtid, state FROM tx_tcc
               UNION ALL SELECT gtid, state FROM tx_quota_saga) t ON t.gtid = p.gtid`;

/** Transactions of any log not finished, or finished without a plan row. */
const UNFINISHED_SQL = `
  SELECT t.gtid, t.log, t.state, p.plan_id FROM (
      SELECT gtid, 'saga' AS log, state FROM tx_saga
      UNION ALL SELECT gtid, 'tcc', state FROM tx_tcc
      UNION ALL SELECT gtid, 'quota-saga', state FROM tx_quota_saga) t
    LEFT JOIN care_plan p ON p.gtid = t.gtid
   WHERE t.state NOT IN ('completed', 'aborted', 'confirmed', 'cancelled') OR p.plan_id IS NULL`;

/** Resources whose `lent` is not what their live and lost cache epochs still hold. */
const LENT_SQL = `
  SELECT c.resource, c.lent, coalesce(e.outstanding, 0)::int AS outstanding
    FROM tx_capacity c
    LEFT JOIN (SELECT resource, sum(lent - consumed - reclaimed) AS outstanding FROM tx_quota_epoch
                WHERE state IN ('live', 'lost') GROUP BY resource) e USING (resource)
   WHERE c.lent <> coalesce(e.outstanding, 0)`;

/** One connection to each of the run's databases. */
export class PlanDatabases extends DatabaseClients<PlanServiceName> {
  constructor(cluster: CarePlanCluster) {
    super((service) => clientConfig(cluster.database(service)));
  }
}

/** The participant, resource and units each reservation of a plan takes. */
function expectedReservations(
  answer: PlanAnswer,
): Record<CarePlanParticipant, { resource: string; units: number }> {
  const { spec } = answer;
  return {
    appointments: { resource: `slot:${spec.slotId}`, units: 1 },
    pacs: { resource: `imaging:${spec.imaging.modality}:${spec.imaging.day}`, units: 1 },
    'pharmacy-inventory': {
      resource: `drug:${spec.regimen.drugCode}@${spec.regimen.location}`,
      units: spec.regimen.quantity,
    },
  };
}

/**
 * What the cache holds for `resource` against its live epoch in the main database: undefined when they
 * agree (no live reservation, the cache's units those the epoch lent and did not get back), else why not.
 * Read a few times: a reclaim changes the cache just before the main database.
 */
export async function cacheMismatch(
  db: PlanDatabases,
  cluster: CarePlanCluster,
  service: CarePlanParticipant,
  resource: string,
): Promise<string | undefined> {
  let reason: string | undefined;
  for (let attempt = 0; attempt < 5; attempt++) {
    if (attempt > 0) await sleep(150);
    const [epoch] = await db.rows<{ epoch: string; outstanding: number }>(
      service,
      `SELECT epoch, lent - consumed - reclaimed AS outstanding FROM tx_quota_epoch
        WHERE resource = $1 AND state = 'live'`,
      [resource],
    );
    if (epoch === undefined) return undefined;
    const response = await fetch(
      `${cluster.url(service)}/api/capacity/quota/resources/${encodeURIComponent(resource)}`,
      { headers: { authorization: devAuthorization('administrator') } },
    ).catch(() => undefined);
    if (response?.status !== 200) {
      reason = `its cache level could not be read (${response?.status ?? 'no answer'})`;
      continue;
    }
    const { cache } = (await response.json()) as {
      cache: { epoch: string; lent: number; available: number; reservations: number } | null;
    };
    if (cache === null) reason = `live epoch ${epoch.epoch} (${epoch.outstanding} units) has no cache`;
    else if (cache.epoch !== epoch.epoch) reason = `cache epoch ${cache.epoch}, live epoch ${epoch.epoch}`;
    else if (cache.reservations > 0) reason = `${cache.reservations} reservation(s) still live`;
    else if (cache.lent !== epoch.outstanding)
      reason = `cache holds ${cache.lent} units, its epoch ${epoch.outstanding} outstanding`;
    else return undefined;
  }
  return reason;
}

/**
 * Why the run is not settled yet ('' once it is): a transaction unfinished, a plan in draft, completion
 * events not yet published or applied, a lend pending, a quota cache of `resources` not settled.
 */
export async function unsettledReason(
  db: PlanDatabases,
  cluster: CarePlanCluster,
  resources: ReadonlySet<string>,
): Promise<string> {
  const unfinished = await db.rows<{ gtid: string; state: string }>('care-plans', UNFINISHED_SQL);
  const running = unfinished.filter(
    (u) => !['completed', 'aborted', 'confirmed', 'cancelled'].includes(u.state),
  );
  if (running.length > 0) return `${running.length} transaction(s) unfinished (${running[0].state})`;
  const [{ drafts, unpublished }] = await db.rows<{ drafts: number; unpublished: number }>(
    'care-plans',
    `SELECT (SELECT count(*)::int FROM care_plan WHERE status = 'draft') AS drafts,
            (SELECT count(*)::int FROM tx_outbox WHERE published_at IS NULL AND type <> $1) AS unpublished`,
    // Audit records wait in the outbox while no audit service has bound its queue (the lab runs none).
    [AUDIT_RECORD_TYPE],
  );
  if (drafts > 0) return `${drafts} plan(s) in draft`;
  if (unpublished > 0) return `${unpublished} completion event(s) not published`;
  const active = (
    await db.rows<{ gtid: string }>(
      'care-plans',
      `SELECT gtid FROM care_plan WHERE status = 'active' AND mode = 'quota-saga'`,
    )
  ).map((r) => r.gtid);
  for (const service of CARE_PLAN_PARTICIPANTS) {
    const [row] = await db.rows<{ applied: number; pending: number }>(
      service,
      `SELECT (SELECT count(DISTINCT gtid)::int FROM tx_capacity_claim
                WHERE gtid = ANY($1) AND state = 'applied') AS applied,
              (SELECT count(*)::int FROM tx_quota_op WHERE state = 'pending') AS pending`,
      [active],
    );
    if (row.applied < active.length)
      return `${active.length - row.applied} completion(s) not applied at ${service}`;
    if (row.pending > 0) return `${row.pending} lend(s) pending at ${service}`;
  }
  for (const resource of resources) {
    const service = PARTICIPANT_OF[resource.slice(0, resource.indexOf(':')) as keyof typeof PARTICIPANT_OF];
    const mismatch = await cacheMismatch(db, cluster, service, resource);
    if (mismatch !== undefined) return `${service} ${resource}: ${mismatch}`;
  }
  return '';
}

/**
 * Every invariant over every plan booked so far (`answers`, by slot) and every participant, as findings;
 * each names what it is about in its key, so a state that persists is reported once by the caller.
 * `resources`: the quota caches to compare with their epochs.
 */
export async function evaluateCarePlans(
  db: PlanDatabases,
  cluster: CarePlanCluster,
  answers: ReadonlyMap<string, PlanAnswer>,
  resources: ReadonlySet<string>,
): Promise<Finding[]> {
  const findings: Finding[] = [];
  const add = (key: string, kind: Finding['kind'], message: string): void => {
    findings.push({ key, kind, message });
  };
  const plans = await db.rows<PlanRow>('care-plans', PLANS_SQL);
  const claims = new Map<CarePlanParticipant, Map<string, ClaimRow[]>>();
  for (const service of CARE_PLAN_PARTICIPANTS) {
    const byGtid = new Map<string, ClaimRow[]>();
    for (const claim of await db.rows<ClaimRow>(
      service,
      'SELECT gtid, key, resource, units, state FROM tx_capacity_claim WHERE gtid = ANY($1)',
      [plans.map((p) => p.gtid)],
    ))
      byGtid.set(claim.gtid, [...(byGtid.get(claim.gtid) ?? []), claim]);
    claims.set(service, byGtid);
  }

  const bySlot = new Map<string, PlanRow[]>();
  for (const plan of plans) {
    const slot = plan.slot?.replace(/^Slot\//, '') ?? '';
    bySlot.set(slot, [...(bySlot.get(slot) ?? []), plan]);
  }
  for (const [slot, rows] of bySlot) {
    if (rows.length > 1)
      add(`slot:${slot}:plans`, 'duplicated', `${rows.length} plans for the one plan sent on slot ${slot}`);
    const answer = answers.get(slot);
    for (const plan of rows) {
      const id = `CarePlan/${plan.plan_id} (${plan.mode}, gtid ${plan.gtid})`;
      const key = `plan:${plan.plan_id}`;
      if (answer === undefined) {
        add(`${key}:unknown`, 'violation', `${id} names slot ${slot}, which no plan sent took`);
        continue;
      }
      if (plan.status !== 'active' && plan.status !== 'revoked') {
        add(`${key}:status`, 'violation', `${id} left ${plan.status}`);
        continue;
      }
      if (plan.fhir_status !== plan.status)
        add(
          `${key}:fhir`,
          'violation',
          `${id} is ${plan.status}, its FHIR CarePlan ${plan.fhir_status ?? 'missing'}`,
        );
      const finalState = FINAL_STATE[plan.mode]?.[plan.status];
      if (plan.tx_state !== finalState)
        add(
          `${key}:tx`,
          'violation',
          `${id} is ${plan.status}, its transaction ${plan.tx_state ?? 'missing'}`,
        );
      if (plan.status === 'active' && answer.kind !== 'bookable')
        add(
          `${key}:oversold`,
          'violation',
          `${id} is active though its ${answer.kind} plan could not be booked`,
        );
      if (answer.status === 201 && plan.status !== 'active')
        add(`${key}:answer`, 'lost', `${id} was answered 201 active and ended ${plan.status}`);
      if (answer.status === 409 && plan.status !== 'revoked')
        add(`${key}:answer`, 'violation', `${id} was answered 409 revoked and ended ${plan.status}`);
      if (answer.gtid !== undefined && answer.gtid !== plan.gtid)
        add(`${key}:gtid`, 'violation', `${id} was answered with gtid ${answer.gtid}`);
      const expected = expectedReservations(answer);
      for (const service of CARE_PLAN_PARTICIPANTS) {
        const mine = claims.get(service)?.get(plan.gtid) ?? [];
        const applied = mine.filter((c) => c.state === 'applied');
        const held = mine.filter((c) => c.state === 'held');
        if (held.length > 0)
          add(
            `${key}:${service}:held`,
            'violation',
            `${id} ended ${plan.status} with ${held.length} hold(s) at ${service}`,
          );
        if (plan.status === 'revoked') {
          if (applied.length > 0)
            add(
              `${key}:${service}:applied`,
              'duplicated',
              `${id} is revoked, yet ${applied.map((c) => c.key).join(', ')} applied at ${service}`,
            );
          continue;
        }
        const want = expected[service];
        if (applied.length === 0)
          add(`${key}:${service}:lost`, 'lost', `${id} is active, nothing applied at ${service}`);
        else if (applied.length > 1)
          add(
            `${key}:${service}:twice`,
            'duplicated',
            `${id} has ${applied.length} reservations applied at ${service}`,
          );
        else if (applied[0].resource !== want.resource || applied[0].units !== want.units)
          add(
            `${key}:${service}:wrong`,
            'violation',
            `${id} applied ${applied[0].units} of ${applied[0].resource} at ${service}, not ${want.units} of ${want.resource}`,
          );
      }
    }
  }
  for (const [slot, answer] of answers) {
    if (bySlot.has(slot) || (answer.status !== 201 && answer.status !== 409)) continue;
    add(
      `slot:${slot}:missing`,
      answer.status === 201 ? 'lost' : 'violation',
      `the plan on slot ${slot} was answered ${answer.status} (gtid ${answer.gtid ?? '-'}) but care-plans has no plan for it`,
    );
  }
  for (const u of await db.rows<{ gtid: string; log: string; state: string; plan_id: string | null }>(
    'care-plans',
    UNFINISHED_SQL,
  ))
    add(
      `tx:${u.gtid}`,
      'violation',
      `${u.log} transaction ${u.gtid} ${u.plan_id === null ? `(${u.state}) has no plan` : `left ${u.state}`}`,
    );

  for (const service of CARE_PLAN_PARTICIPANTS) {
    const exec = {
      query: <T>(sql: string, params?: unknown[]) =>
        db.rows<T & object>(service, sql, params) as Promise<T[]>,
    };
    for (const v of await capacityAccountingViolations(exec))
      add(
        `accounting:${service}:${v.resource}`,
        'violation',
        `${service} ${v.resource}: capacity ${v.capacity} = available ${v.available} + taken ${v.taken} + held ${v.held} + lent ${v.lent}; applied claims ${v.applied_units}, held ${v.held_units}`,
      );
    for (const r of await db.rows<{ resource: string; lent: number; outstanding: number }>(service, LENT_SQL))
      add(
        `lent:${service}:${r.resource}`,
        'violation',
        `${service} ${r.resource}: lent ${r.lent}, its live and lost epochs hold ${r.outstanding}`,
      );
    for (const m of await db.rows<{ message_id: string; reason: string | null }>(
      service,
      `SELECT message_id, reason FROM tx_inbox WHERE outcome = 'dead-lettered'`,
    ))
      add(
        `inbox:${service}:${m.message_id}`,
        'lost',
        `${service} dead-lettered ${m.message_id}: ${m.reason ?? '?'}`,
      );
  }
  for (const resource of resources) {
    const service = PARTICIPANT_OF[resource.slice(0, resource.indexOf(':')) as keyof typeof PARTICIPANT_OF];
    const mismatch = await cacheMismatch(db, cluster, service, resource);
    if (mismatch !== undefined)
      add(`cache:${service}:${resource}`, 'violation', `${service} ${resource}: ${mismatch}`);
  }
  return findings;
}
