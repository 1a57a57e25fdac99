import { existsSync } from 'node:fs';
import type { CareTeam } from '@medplum/fhirtypes';
import { eventually } from '@hospital/platform/testing/waiting';
import type { ProtocolPoint } from '@hospital/transactions';
import { serviceEntry } from '../../../scripts/services';
import { carePlanExample, careTeamExample } from '../src/testing/care-plan-examples';
import type { TransactionMode } from '../src/plans/transaction-mode';
import { call, CarePlansHospital } from './support/care-plans-hospital';

/**
 * care-plans killed (SIGKILL, FAULT_KILL_AT) at each saga and TCC protocol point while it books a plan —
 * one that the participants can book, or one the pharmacy cannot stock — then started again: its recovery
 * sweeps leave every plan active with its transaction completed or confirmed and each reservation applied
 * once, or revoked with its transaction aborted or cancelled and nothing applied or held. The TCC trials
 * include a coordinator killed between its decision and the plan's status write (`after-decision`). The
 * participants and the EMR run from `dist/` (built by `npm test`); care-plans too, as the process killed.
 */
jest.setTimeout(600_000);

const PATIENT = 'pat-cpf-1';
const PRACTITIONERS = ['prac-cpf-1', 'prac-cpf-2'];
const DAY = '2026-12-08';
const DRUG_RESOURCE = 'drug:197361@ward-3a';
const CT_RESOURCE = `imaging:CT:${DAY}`;

interface Trial {
  mode: TransactionMode;
  point: ProtocolPoint;
  /** A plan the participants can book, or one whose regimen the pharmacy cannot stock. */
  plan: 'bookable' | 'stock-out';
  /** The status recovery must leave the plan in. */
  expected: 'active' | 'revoked';
}

const TRIALS: Trial[] = [
  { mode: 'saga', point: 'saga.orchestrator.before-action', plan: 'bookable', expected: 'active' },
  { mode: 'saga', point: 'saga.orchestrator.after-action', plan: 'bookable', expected: 'active' },
  { mode: 'saga', point: 'saga.orchestrator.after-step-logged', plan: 'bookable', expected: 'active' },
  { mode: 'saga', point: 'saga.orchestrator.after-failure-logged', plan: 'stock-out', expected: 'revoked' },
  { mode: 'saga', point: 'saga.orchestrator.mid-compensation', plan: 'stock-out', expected: 'revoked' },
  { mode: 'tcc', point: 'tcc.coordinator.before-try', plan: 'bookable', expected: 'revoked' },
  { mode: 'tcc', point: 'tcc.coordinator.after-decision', plan: 'bookable', expected: 'active' },
  { mode: 'tcc', point: 'tcc.coordinator.after-decision', plan: 'stock-out', expected: 'revoked' },
  { mode: 'tcc', point: 'tcc.coordinator.mid-phase-two', plan: 'bookable', expected: 'active' },
];

interface Outcome {
  died: boolean;
  /** The plan's row and its transaction's state once recovery settled it. */
  plan?: { planId: string; gtid: string; status: string; mode: string };
  transaction?: string;
  /** Each participant's claims of the plan's gtid: key → state. */
  claims: Record<string, string>;
}

let hospital: CarePlansHospital;
let teamId: string;
let slots: string[];
const outcomes = new Map<Trial, Outcome>();

/** The plan's transaction state in its log: saga or TCC. */
async function transactionState(gtid: string): Promise<string | undefined> {
  const rows = await hospital.carePlans.db.query<{ state: string }>(
    'SELECT state FROM tx_saga WHERE gtid = $1 UNION ALL SELECT state FROM tx_tcc WHERE gtid = $1',
    [gtid],
  );
  return rows[0]?.state;
}

const FINAL = ['completed', 'aborted', 'confirmed', 'cancelled'];

async function runTrial(trial: Trial, index: number): Promise<Outcome> {
  await hospital.restartCarePlans({ FAULT_KILL_AT: trial.point });
  const before = new Set(
    (
      await hospital.carePlans.db.query<{ gtid: string }>(
        'SELECT gtid FROM tx_saga UNION SELECT gtid FROM tx_tcc',
      )
    ).map((r) => r.gtid),
  );
  const body = carePlanExample({
    patientId: PATIENT,
    careTeamId: teamId,
    consults: [
      { slotId: slots[2 * index], practitionerId: PRACTITIONERS[0] },
      { slotId: slots[2 * index + 1], practitionerId: PRACTITIONERS[1] },
    ],
    imaging: { modality: 'CT', day: DAY },
    regimen: { drugCode: '197361', locationId: 'ward-3a', quantity: trial.plan === 'stock-out' ? 5_000 : 3 },
  });
  await call(`${hospital.carePlans.url}/fhir/CarePlan?_mode=${trial.mode}`, { body }).catch(() => undefined);
  const exit = await hospital.restartCarePlans({}, true);
  const died = exit?.signal === 'SIGKILL';
  const [gtid] = (
    await hospital.carePlans.db.query<{ gtid: string }>(
      'SELECT gtid FROM tx_saga UNION SELECT gtid FROM tx_tcc',
    )
  )
    .map((r) => r.gtid)
    .filter((g) => !before.has(g));
  if (gtid === undefined) return { died, claims: {} };
  // Recovery claims the transaction once the dead replica's lease ran out (CARE_PLAN_LEASE_MS, 6 s).
  const transaction = await eventually(
    () => transactionState(gtid),
    (s) => s !== undefined && FINAL.includes(s),
    60_000,
  );
  const [plan] = await hospital.carePlans.db.query<{
    planId: string;
    gtid: string;
    status: string;
    mode: string;
  }>('SELECT plan_id AS "planId", gtid, status, mode FROM care_plan WHERE gtid = $1', [gtid]);
  const claims: Record<string, string> = {};
  for (const participant of ['appointments', 'pacs', 'pharmacy'] as const)
    for (const claim of await hospital.claims(participant, gtid))
      claims[claim.key.slice(gtid.length + 1)] = claim.state;
  return { died, transaction, claims, ...(plan === undefined ? {} : { plan }) };
}

beforeAll(async () => {
  const entries = ['care-plans', 'emr', 'appointments', 'pacs', 'pharmacy-inventory'].map(serviceEntry);
  const missing = entries.filter((entry) => !existsSync(entry));
  if (missing.length > 0) throw new Error(`build first (npm test does): missing ${missing.join(', ')}`);
  hospital = await CarePlansHospital.start({ basePort: 3760, carePlans: 'process' });
  await hospital.seedEmr([
    { resourceType: 'Patient', id: PATIENT, gender: 'female', birthDate: '1958-09-30' },
    ...PRACTITIONERS.map((id) => ({ resourceType: 'Practitioner' as const, id })),
  ]);
  await hospital.offer('pacs', CT_RESOURCE, 40);
  await hospital.offer('pharmacy', DRUG_RESOURCE, 1_000);
  slots = await hospital.createSlots(PRACTITIONERS[0], DAY, 2 * TRIALS.length);
  const team = await call<CareTeam & { id: string }>(`${hospital.carePlans.url}/fhir/CareTeam`, {
    body: careTeamExample(PATIENT, PRACTITIONERS),
  });
  teamId = team.body.id;
  for (const [index, trial] of TRIALS.entries()) outcomes.set(trial, await runTrial(trial, index));
}, 600_000);

afterAll(async () => {
  await hospital?.close();
});

describe.each(TRIALS)('care-plans killed at $point in $mode mode ($plan plan)', (trial) => {
  it(`dies there, and recovery leaves the plan ${trial.expected} with its transaction finished accordingly`, () => {
    const outcome = outcomes.get(trial);
    expect(outcome?.died).toBe(true);
    const active = trial.expected === 'active';
    expect(outcome?.plan?.status).toBe(trial.expected);
    expect(outcome?.plan?.mode).toBe(trial.mode);
    const finished = { saga: active ? 'completed' : 'aborted', tcc: active ? 'confirmed' : 'cancelled' };
    expect(outcome?.transaction).toBe(finished[trial.mode === 'tcc' ? 'tcc' : 'saga']);
    if (active) {
      expect(outcome?.claims).toEqual({
        'consults:0': 'applied',
        'consults:1': 'applied',
        imaging: 'applied',
        regimen: 'applied',
      });
    } else {
      // Released everywhere (a tombstone where nothing ever arrived); nothing applied or held.
      expect(Object.values(outcome?.claims ?? {}).filter((state) => state !== 'released')).toEqual([]);
    }
  });
});

it('leaves no plan in draft, and every resource level equal to what its active plans took', async () => {
  const drafts = await hospital.carePlans.db.query('SELECT plan_id FROM care_plan WHERE status = $1', [
    'draft',
  ]);
  expect(drafts).toEqual([]);
  const active = TRIALS.filter((t) => t.expected === 'active').length;
  expect(await hospital.level('pacs', CT_RESOURCE)).toMatchObject({ taken: active, held: 0 });
  expect(await hospital.level('pharmacy', DRUG_RESOURCE)).toMatchObject({ taken: 3 * active, held: 0 });
  const taken = await Promise.all(slots.map((s) => hospital.level('appointments', `slot:${s}`)));
  expect(taken.reduce((sum, level) => sum + (level?.taken ?? 0) + (level?.held ?? 0), 0)).toBe(2 * active);
});
