import { existsSync } from 'node:fs';
import { protocolPointsOf } from '@hospital/transactions';
import { serviceEntry, services } from '../../../scripts/services';
import {
  MRN_SYSTEM,
  planTrials,
  TRIAL_POINT_ORDER,
  TrialResult,
  TwoPhaseFaultLab,
} from '../../../scripts/lib/faults-2pc';

/**
 * The record update over two-phase commit survives a SIGKILL at every protocol point: the victim (emr as
 * coordinator, lis or pacs as participant) dies exactly there, is restarted, and recovery leaves the update
 * committed in all three databases or absent from all three, with no prepared transaction behind, nothing
 * duplicated and nothing the client was told about lost. The same trials as `npm run faults -- 2pc`, one per
 * point; the services run from dist/ (built by `npm test`).
 */
describe('two-phase commit under SIGKILL at each protocol point', () => {
  let lab: TwoPhaseFaultLab | undefined;
  let globalViolations: string[] = [];
  const results = new Map<string, TrialResult>();
  const plans = planTrials(TRIAL_POINT_ORDER.length);

  beforeAll(async () => {
    const missing = services.map((s) => serviceEntry(s.name)).filter((entry) => !existsSync(entry));
    if (missing.length > 0) throw new Error(`build first (npm test does): missing ${missing.join(', ')}`);
    lab = await TwoPhaseFaultLab.open({ suffix: 'faultspec', portBase: 3230 });
    for (const plan of plans) results.set(plan.point, await lab.runTrial(plan));
    // Decided transactions are marked final by the coordinator's recovery; check every trial again then.
    globalViolations = await lab.settle();
    // About 90 s; up to twice that when the coordinator's recovery backs off while participants restart.
  }, 300_000);

  afterAll(async () => {
    await lab?.close();
  }, 30_000);

  it('plans one trial per protocol point, participants alternating between lis and pacs', () => {
    expect(plans.map((p) => p.point).sort()).toEqual(protocolPointsOf('2pc').sort());
    const victims = plans.filter((p) => p.point.startsWith('2pc.participant.')).map((p) => p.victim);
    expect(new Set(victims)).toEqual(new Set(['lis', 'pacs']));
  });

  it.each(protocolPointsOf('2pc'))(
    '%s: the victim dies there, and every invariant holds after recovery',
    (point) => {
      const trial = results.get(point);
      expect(trial).toBeDefined();
      if (!trial) return;
      expect({ victimDied: trial.victimDied, victimExit: trial.victimExit }).toEqual({
        victimDied: true,
        victimExit: 'killed by SIGKILL',
      });
      expect(trial.violations).toEqual([]);
      expect(trial.settled).toBe(true);
      expect({ lost: trial.lost, duplicated: trial.duplicated, leftInDoubt: trial.leftInDoubt }).toEqual({
        lost: false,
        duplicated: false,
        leftInDoubt: false,
      });
      expect(trial.observation?.prepared).toEqual([]);
      // Presumed abort: the update is everywhere exactly when the coordinator logged COMMIT.
      const presence = Object.values(trial.observation?.databases ?? {}).map((d) => d.presence);
      expect(presence).toEqual(Array(3).fill(trial.decision === 'committed' ? 'complete' : 'absent'));
    },
  );

  it('kills after the COMMIT decision end committed, kills before it end aborted', () => {
    const decision = (point: string) => results.get(point)?.decision;
    expect(decision('2pc.coordinator.after-decision')).toBe('committed');
    expect(decision('2pc.coordinator.mid-phase-two')).toBe('committed');
    expect(decision('2pc.participant.before-commit')).toBe('committed');
    expect(decision('2pc.coordinator.before-decision')).toBe('aborted');
    expect(decision('2pc.participant.before-prepare')).toBe('aborted');
    expect(decision('2pc.participant.after-prepare')).toBe('aborted');
  });

  it('leaves no rows that no committed trial wrote', () => {
    expect(globalViolations).toEqual([]);
  });

  // The checks above would pass vacuously if they could not see a broken state: plant two and look.
  it('catches a partial write, a lost update and a duplicate when they are there', async () => {
    const current = lab;
    if (!current) throw new Error('the lab did not open');
    const plant = (service: 'emr' | 'lis' | 'pacs', id: string, mrn: string) =>
      current.sql(
        service,
        `INSERT INTO fhir_resource (resource_type, id, version_id, last_updated, deleted, content)
         VALUES ('Patient', $1, 1, now(), false, $2::jsonb)`,
        [
          id,
          JSON.stringify({ resourceType: 'Patient', id, identifier: [{ system: MRN_SYSTEM, value: mrn }] }),
        ],
      );
    await plant('lis', 'planted-partial', 'PLANTED-PARTIAL');
    const partial = await current.checkTransaction('planted-partial', 'PLANTED-PARTIAL', 200);
    expect(partial.lost).toBe(true);
    expect(partial.violations).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^partial write in lis/),
        expect.stringMatching(/^lost/),
      ]),
    );

    await plant('emr', 'planted-dup-1', 'PLANTED-DUP');
    await plant('emr', 'planted-dup-2', 'PLANTED-DUP');
    const duplicate = await current.checkTransaction('planted-dup', 'PLANTED-DUP', 503);
    expect(duplicate.duplicated).toBe(true);
    expect(duplicate.violations).toEqual(
      expect.arrayContaining([expect.stringMatching(/^duplicated in emr/)]),
    );
  });
});
