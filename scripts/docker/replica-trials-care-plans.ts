// The replica trials of the treatment plans: saga, quota-cached saga and TCC at care-plans, a care-plans
// replica killed in each.
import { oncologyCareTeam, treatmentPlan } from '../lib/sample-resources';
import { DAY_MS, idOf, openFreeSlots, replicaUrl, send, type Trial, type Verdict } from './replica-trial-kit';

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

export function carePlans(mode: keyof typeof PLAN_MODES): Trial {
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
      const appointments = await replicaUrl(ctx, 'appointments', 3006);
      // Days of the practitioner's slots of its own, far enough ahead that no other plan holds them; a
      // plan sent on a slot an earlier one took is revoked (its steps before compensated or cancelled).
      slots.push(
        ...(await openFreeSlots(appointments, practitioner, firstDay, SLOT_DAYS)).map((s) => s.slotId),
      );
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
