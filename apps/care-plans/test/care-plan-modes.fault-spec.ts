import { existsSync } from 'node:fs';
import { serviceEntry } from '../../../scripts/services';
import {
  CARE_PLAN_FAULT_ORDER,
  CarePlanFaultKind,
  CarePlanFaultLab,
  CarePlanTrialPlan,
  CarePlanTrialResult,
  Finding,
} from '../../../scripts/lib/faults-care-plan';

/**
 * Treatment plans under real faults, one short trial of each kind, as `npm run faults -- care-plan` runs
 * them: plans booked for a few seconds (one in four asking for a drug out of stock, one in eight for a
 * full CT day) while care-plans SIGKILLs itself after the quota-cached saga reserved (FAULT_KILL_AT), the
 * pharmacy's inventory is SIGKILLed mid-TCC, the quota caches' Redis keys of the run are deleted, or
 * RabbitMQ is stopped and started while completion events are in flight. Once settled: every plan active
 * with each reservation applied once at its participant, or revoked with none applied or held; none in
 * draft; every transaction finished; the capacity accounting, and for the quota caches what each
 * participant lent equal to what its epochs and its live cache hold. The services run from dist/ (built by
 * `npm test`) on ports 3490–3494, databases `hospital_*_faultspec`.
 */
jest.setTimeout(60_000);

const TRIALS: Record<CarePlanFaultKind, Omit<CarePlanTrialPlan, 'index' | 'fault'>> = {
  'orchestrator-kill': { mode: 'quota-saga', point: 'quota-saga.coordinator.after-reserve' },
  'participant-kill': { mode: 'tcc', victim: 'pharmacy-inventory' },
  'redis-flush': { mode: 'quota-saga' },
  'broker-restart': { mode: 'quota-saga' },
};

describe('treatment plans (saga, quota-cached saga, TCC) under real faults', () => {
  let lab: CarePlanFaultLab | undefined;
  const results = new Map<CarePlanFaultKind, CarePlanTrialResult>();
  let final: Finding[] | undefined;

  beforeAll(async () => {
    const missing = ['care-plans', 'emr', 'appointments', 'pacs', 'pharmacy-inventory']
      .map(serviceEntry)
      .filter((entry) => !existsSync(entry));
    if (missing.length > 0) throw new Error(`build first (npm test does): missing ${missing.join(', ')}`);
    lab = await CarePlanFaultLab.open({ suffix: 'faultspec', basePort: 3490, loadMs: 3_000 });
    for (const [index, fault] of CARE_PLAN_FAULT_ORDER.entries())
      results.set(fault, await lab.runTrial({ index, fault, ...TRIALS[fault] }));
    final = await lab.finish();
  }, 400_000);

  afterAll(async () => {
    await lab?.close();
  }, 60_000);

  it.each(CARE_PLAN_FAULT_ORDER)('%s: the fault happens, and every invariant holds once settled', (fault) => {
    const trial = results.get(fault);
    expect(trial).toBeDefined();
    if (!trial) return;
    expect({ injected: trial.injected, problems: trial.problems }).toEqual({ injected: true, problems: [] });
    if (fault === 'orchestrator-kill' || fault === 'participant-kill')
      expect(trial.victimExit).toBe('killed by SIGKILL');
    expect(trial.settleMs).toBeDefined();
    expect(trial.findings).toEqual([]);
    // Plans of both outcomes, every one of them finished.
    expect(trial.active).toBeGreaterThan(0);
    expect(trial.revoked).toBeGreaterThan(0);
  });

  it('really exercised recovery, a lost cache and completion events', () => {
    // The killed coordinator's plans had no final answer: recovery finished them.
    expect(results.get('orchestrator-kill')?.recovered).toBeGreaterThan(0);
    expect(results.get('redis-flush')?.keysDeleted).toBeGreaterThan(0);
    expect(results.get('broker-restart')?.completionEvents).toBeGreaterThan(0);
    expect(final).toEqual([]);
  });

  // The checks above would pass vacuously if they could not see a broken state: plant some and look.
  it('catches a plan left in draft, a completion applied nowhere, lent units no epoch holds and a cache off its epoch', async () => {
    const current = lab;
    if (!current) throw new Error('the lab did not open');
    const active = await current.rows<{ plan_id: string; gtid: string; mode: string }>(
      'care-plans',
      `SELECT plan_id, gtid, mode FROM care_plan WHERE status = 'active' ORDER BY mode, plan_id`,
    );
    const [draft, unapplied] = active;
    await current.rows('care-plans', `UPDATE care_plan SET status = 'draft' WHERE plan_id = $1`, [
      draft.plan_id,
    ]);
    await current.rows(
      'pharmacy-inventory',
      `UPDATE tx_capacity_claim SET state = 'released' WHERE gtid = $1`,
      [unapplied.gtid],
    );
    const [day] = await current.rows<{ resource: string }>(
      'pacs',
      `SELECT resource FROM tx_capacity WHERE resource LIKE 'imaging:CT:%' ORDER BY resource LIMIT 1`,
    );
    await current.rows(
      'pacs',
      'UPDATE tx_capacity SET capacity = capacity + 1, lent = lent + 1 WHERE resource = $1',
      [day.resource],
    );
    const [slot] = await current.rows<{ resource: string }>(
      'appointments',
      `SELECT resource FROM tx_quota_epoch WHERE state = 'live' ORDER BY resource LIMIT 1`,
    );
    await current.rows(
      'appointments',
      `WITH e AS (UPDATE tx_quota_epoch SET lent = lent + 1 WHERE resource = $1 AND state = 'live' RETURNING 1)
       UPDATE tx_capacity SET capacity = capacity + 1, lent = lent + 1 WHERE resource = $1`,
      [slot.resource],
    );
    const findings = (await current.evaluate()).map((f) => `${f.kind}: ${f.message}`);
    expect(findings).toEqual(
      expect.arrayContaining([
        expect.stringMatching(new RegExp(`^violation: CarePlan/${draft.plan_id} .* left draft$`)),
        expect.stringMatching(
          new RegExp(
            `^lost: CarePlan/${unapplied.plan_id} .* is active, nothing applied at pharmacy-inventory$`,
          ),
        ),
        expect.stringMatching(/^violation: pharmacy-inventory drug:.* applied claims/),
        expect.stringMatching(
          new RegExp(`^violation: pacs ${day.resource}: lent \\d+, its live and lost epochs hold`),
        ),
        expect.stringMatching(
          new RegExp(`^violation: appointments ${slot.resource}: cache holds \\d+ units`),
        ),
      ]),
    );
  });
});
