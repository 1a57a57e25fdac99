import { existsSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { serviceEntry, twoPhaseServices } from '../../../scripts/services';
import {
  HL7_FAULT_ORDER,
  Hl7FaultLab,
  type Hl7FaultKind,
  type Hl7TrialResult,
  planHl7Trials,
} from '../../../scripts/lib/faults-hl7';

/**
 * The laboratory and imaging loop keeps each order's path exactly once under its faults: the analyzer
 * down while its order waits, the LIS SIGKILLed with half a result frame on its listener, Orthanc restarted
 * after the worklist entry and right after the study was stored. Each trial posts a record update to the
 * EMR and ends with the analyzer having received the lab order once and the modality having stored the
 * study once, one DiagnosticReport (with the panel's Observations) and one ImagingStudy in the department
 * and the EMR, every order completed and nothing dead-lettered, pending or prepared. The same trials as
 * `npm run faults -- hl7`, one per fault; the services run from dist/ (built by `npm test`).
 */
describe('laboratory and imaging loop under its faults', () => {
  let lab: Hl7FaultLab | undefined;
  const results = new Map<Hl7FaultKind, Hl7TrialResult>();
  const namespace = `faults-hl7-spec-${randomBytes(4).toString('hex')}`;

  beforeAll(async () => {
    const missing = twoPhaseServices.map((s) => serviceEntry(s.name)).filter((entry) => !existsSync(entry));
    if (missing.length > 0) throw new Error(`build first (npm test does): missing ${missing.join(', ')}`);
    lab = await Hl7FaultLab.open({
      suffix: 'faultshl7spec',
      namespace,
      ports: { portBase: 4820, orthancHttp: 4830, orthancDicom: 4831, analyzer: 4832, listener: 4833 },
    });
    for (const plan of planHl7Trials(HL7_FAULT_ORDER.length))
      results.set(plan.fault, await lab.runTrial(plan));
    // About 30 s; each trial settles within its bound or reports it.
  }, 240_000);

  afterAll(async () => {
    await lab?.close();
  }, 60_000);

  it.each(HL7_FAULT_ORDER)('%s: the fault is injected, and every invariant holds', (fault) => {
    const trial = results.get(fault);
    expect(trial).toBeDefined();
    if (!trial) return;
    expect({ http: trial.http, injected: trial.injected }).toEqual({ http: 200, injected: true });
    expect(trial.findings).toEqual([]);
    expect({ lost: trial.lost, duplicated: trial.duplicated, violations: trial.violations }).toEqual({
      lost: 0,
      duplicated: 0,
      violations: 0,
    });
    expect(trial.settleMs).toBeDefined();
  });

  it('delivers the result of the killed LIS by the analyzer resending it', () => {
    expect(results.get('listener-killed')?.resultRetries).toBeGreaterThan(0);
  });

  // The checks above would pass vacuously if they could not see a broken state: plant some and look.
  it('catches a duplicated report, a lost study and an order left active when they are there', async () => {
    const current = lab;
    const trial = results.get('analyzer-down');
    if (!current || !trial?.orders) throw new Error('the lab did not run its trials');
    const { lab: labOrder, imaging } = trial.orders;
    expect(await current.recheck(trial)).toEqual([]);

    await current.sql(
      'emr',
      `INSERT INTO fhir_resource (resource_type, id, version_id, last_updated, deleted, content)
       VALUES ('DiagnosticReport', 'planted-report', 1, now(), false, $1::jsonb)`,
      [
        JSON.stringify({
          resourceType: 'DiagnosticReport',
          id: 'planted-report',
          status: 'final',
          code: { text: 'planted' },
          basedOn: [{ reference: `ServiceRequest/${labOrder}` }],
        }),
      ],
    );
    await current.sql(
      'pacs',
      `UPDATE fhir_resource SET deleted = true
        WHERE resource_type = 'ImagingStudy' AND content->'basedOn' @> $1::jsonb`,
      [JSON.stringify([{ reference: `ServiceRequest/${imaging}` }])],
    );
    await current.sql(
      'lis',
      `UPDATE fhir_resource SET content = jsonb_set(content, '{status}', '"active"')
        WHERE resource_type = 'ServiceRequest' AND id = $1`,
      [labOrder],
    );
    const findings = await current.recheck(trial);
    expect(findings).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ kind: 'duplicated', message: 'DiagnosticReports in emr: 2' }),
        expect.objectContaining({ kind: 'lost', message: 'ImagingStudies in pacs: none' }),
        expect.objectContaining({ kind: 'violation', message: `order ${labOrder} is active in lis` }),
      ]),
    );
  });
});
