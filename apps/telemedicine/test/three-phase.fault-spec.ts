import { existsSync } from 'node:fs';
import { serviceEntry } from '../../../scripts/services';
import {
  THREE_PHASE_FAULT_ORDER,
  type Finding,
  ThreePhaseFaultKind,
  ThreePhaseFaultLab,
  ThreePhaseTrialPlan,
  ThreePhaseTrialResult,
} from '../../../scripts/lib/faults-3pc';

/**
 * The consult completion over three-phase commit under real faults, one trial of each kind, as
 * `npm run faults -- 3pc` runs them, three consults completed at once in each: telemedicine SIGKILLs
 * itself mid-PreCommit (FAULT_KILL_AT) and stays down until the EMR and the inbox have ended their
 * branches alike without it, then comes back and its recovery settles its own record the same way; the
 * EMR SIGKILLs itself right after recording a PreCommit and is restarted; a TCP proxy cuts the inbox off
 * at the first PreCommit and heals after both time-outs. Once settled: every consult completed in all
 * three databases or in none, each part once, answers and `/api/transactions` agreeing, nothing prepared.
 * The services run from dist/ (built by `npm test`) on ports 3970–3972, their proxies on 3980–3982,
 * databases `hospital_*_faults3pcspec`.
 */
jest.setTimeout(60_000);

const TRIALS: Record<ThreePhaseFaultKind, Omit<ThreePhaseTrialPlan, 'index' | 'fault'>> = {
  'coordinator-kill': { point: '3pc.coordinator.mid-pre-commit' },
  'participant-kill': { victim: 'emr', point: '3pc.participant.after-pre-commit' },
  partition: {},
};

describe('consult completion over three-phase commit under real faults', () => {
  let lab: ThreePhaseFaultLab | undefined;
  const results = new Map<ThreePhaseFaultKind, ThreePhaseTrialResult>();
  let final: { findings: Finding[]; leftInDoubt: number } | undefined;

  beforeAll(async () => {
    const missing = ['telemedicine', 'emr', 'referral-inbox']
      .map(serviceEntry)
      .filter((entry) => !existsSync(entry));
    if (missing.length > 0) throw new Error(`build first (npm test does): missing ${missing.join(', ')}`);
    lab = await ThreePhaseFaultLab.open({ suffix: 'faults3pcspec', basePort: 3970 });
    for (const [index, fault] of THREE_PHASE_FAULT_ORDER.entries())
      results.set(fault, await lab.runTrial({ index, fault, ...TRIALS[fault] }));
    final = await lab.finish();
  }, 300_000);

  afterAll(async () => {
    await lab?.close();
  }, 60_000);

  it.each(THREE_PHASE_FAULT_ORDER)(
    '%s: the fault happens, and every invariant holds once settled',
    (fault) => {
      const trial = results.get(fault);
      expect(trial).toBeDefined();
      if (!trial) return;
      expect({ injected: trial.injected, problems: trial.problems }).toEqual({
        injected: true,
        problems: [],
      });
      if (fault !== 'partition') expect(trial.victimExit).toBe('killed by SIGKILL');
      expect(trial.settleMs).toBeDefined();
      expect(trial.findings).toEqual([]);
      expect(trial.violations).toBe(0);
      expect(trial.consults.every((c) => c.outcome === 'committed' || c.outcome === 'aborted')).toBe(true);
    },
  );

  it('the EMR and the inbox settled without the coordinator, and the run left nothing behind', () => {
    expect(results.get('coordinator-kill')?.aloneMs).toBeDefined();
    // The killed coordinator answered nobody; its recovery finished every consult.
    expect(results.get('coordinator-kill')?.unanswered).toBeGreaterThan(0);
    // The cut-off inbox's consult could not be answered either way.
    expect(results.get('partition')?.answered503).toBeGreaterThan(0);
    // Both outcomes were reached.
    const outcomes = [...results.values()].flatMap((t) => t.consults.map((c) => c.outcome));
    expect(outcomes).toEqual(expect.arrayContaining(['committed', 'aborted']));
    expect(final).toEqual({ findings: [], leftInDoubt: 0 });
  });

  // The checks above would pass vacuously if they could not see a broken state: plant some and look.
  it('catches a split, a part applied twice and a branch left prepared', async () => {
    const current = lab;
    if (!current) throw new Error('the lab did not open');
    const committed = [...results.values()].flatMap((t) => t.consults).find((c) => c.outcome === 'committed');
    if (!committed) throw new Error('no consult committed in the trials');
    const basedOn = JSON.stringify([{ reference: `ServiceRequest/${committed.serviceRequestId}` }]);
    await current.rows(
      'referral-inbox',
      `UPDATE fhir_resource SET deleted = true
        WHERE resource_type = 'Communication' AND content->'basedOn' @> $1::jsonb`,
      [basedOn],
    );
    await current.rows(
      'emr',
      `INSERT INTO fhir_resource (resource_type, id, version_id, last_updated, deleted, content)
       SELECT resource_type, id || '-copy', version_id, last_updated, deleted, content || jsonb_build_object('id', id || '-copy')
         FROM fhir_resource WHERE resource_type = 'DiagnosticReport' AND content->'basedOn' @> $1::jsonb`,
      [basedOn],
    );
    const [{ db }] = await current.rows<{ db: string }>('emr', 'SELECT current_database() AS db');
    const gid = `3pc|telemedicine|planted-${Date.now()}|${db}`;
    await current.rows('emr', `BEGIN; PREPARE TRANSACTION '${gid}'`);
    try {
      const findings = (await current.evaluate()).map((f) => `${f.kind}: ${f.message}`);
      const about = `ServiceRequest/${committed.serviceRequestId} `;
      expect(findings).toEqual(
        expect.arrayContaining([
          expect.stringMatching(
            new RegExp(`^violation: ${about}.*: the outcome split: .*referral-inbox not applied`),
          ),
          expect.stringMatching(new RegExp(`^duplicated: ${about}.*: emr holds its part 2 times`)),
          `in-doubt: still prepared: emr ${gid}`,
        ]),
      );
    } finally {
      await current.rows('emr', `ROLLBACK PREPARED '${gid}'`);
    }
  });
});
