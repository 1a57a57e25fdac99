import type { Flag, Resource } from '@medplum/fhirtypes';
import { FhirException, FhirValidator } from '@hospital/fhir';
import { news2 } from '../news2/news2';
import {
  asOfLatest,
  closedFlagOf,
  FLAG_DETAIL,
  levelsCalledFor,
  NEWS2_PARAMETER_SCORE,
  NEWS2_TOTAL,
  news2VitalsOf,
  openFlagOf,
  riskAssessmentOf,
  scoreChanged,
  type LatestVital,
} from './news2-assessment';

const at = (minute: number) => new Date(Date.UTC(2025, 2, 1, 12, minute));

const reading = (
  parameter: LatestVital['parameter'],
  value: LatestVital['value'],
  minute = 0,
): LatestVital => ({
  parameter,
  value,
  effectiveAt: at(minute),
  observationId: `obs-${parameter}`,
});

/** A full set of readings scoring 0 on scale 1. */
const calm: LatestVital[] = [
  reading('respirationRate', 16),
  reading('spo2', 97),
  reading('onOxygen', 0),
  reading('systolicBp', 125),
  reading('pulse', 72),
  reading('consciousness', 'A'),
  reading('temperature', 37),
];

const validator = new FhirValidator();

/**
 * The R4 issues of a resource the monitor writes. Medplum evaluates RiskAssessment's ras-2
 * (`probability is decimal implies (probability as decimal) <= 100`) to a failure when a prediction has no
 * probability at all, where R4 counts an empty result as met; NEWS2 predicts a band, not a probability.
 */
function r4Issues(resource: Resource): string[] {
  try {
    validator.validate(resource);
    return [];
  } catch (error) {
    if (!(error instanceof FhirException)) throw error;
    return error.outcome.issue
      .map((issue) => issue.details?.text ?? '')
      .filter((text) => !text.startsWith('Constraint ras-2 not met'));
  }
}

describe('NEWS2 assessment', () => {
  it('turns the latest readings into NEWS2 input: an O2 flow above 0 L/min is "on oxygen"', () => {
    expect(news2VitalsOf(calm)).toEqual({
      respirationRate: 16,
      spo2: 97,
      onOxygen: false,
      systolicBp: 125,
      pulse: 72,
      consciousness: 'A',
      temperature: 37,
    });
    expect(news2VitalsOf([reading('onOxygen', 0.5)])).toEqual({ onOxygen: true });
  });

  it('sees a change of the aggregate or of any parameter’s score, not of values within a band', () => {
    const before = news2(news2VitalsOf(calm));
    expect(scoreChanged(undefined, before)).toBe(true);
    const pulse80 = [...calm.filter((l) => l.parameter !== 'pulse'), reading('pulse', 80)];
    expect(scoreChanged(before, news2(news2VitalsOf(pulse80)))).toBe(false);
    // The aggregate moves: pulse 95 scores 1, pulse 70 scores 0.
    expect(
      scoreChanged(news2({ pulse: 95, temperature: 39.5 }), news2({ pulse: 70, temperature: 39.5 })),
    ).toBe(true);
    // Same aggregate (2), same breakdown: pulse 45 and 38.5 °C score 1 each, like 48 and 38.9 °C.
    const two = { total: 2, parameters: { pulse: 1, temperature: 1 } };
    expect(scoreChanged(two, news2({ pulse: 45, temperature: 38.5 }))).toBe(false);
    // Same aggregate (2), another breakdown: pulse 1 and SpO2 1 instead of pulse 1 and temperature 1.
    expect(scoreChanged(two, news2({ pulse: 45, spo2: 95 }))).toBe(true);
  });

  it('calls for urgent from 5 or a single 3, and for emergency (with urgent) from 7', () => {
    expect(levelsCalledFor(news2({ pulse: 120, respirationRate: 22 }))).toEqual({
      urgent: false,
      emergency: false,
    });
    expect(levelsCalledFor(news2({ consciousness: 'C' }))).toEqual({ urgent: true, emergency: false });
    expect(levelsCalledFor(news2({ pulse: 120, respirationRate: 22, temperature: 39.5 }))).toEqual({
      urgent: true,
      emergency: false,
    });
    expect(levelsCalledFor(news2({ pulse: 135, respirationRate: 26, temperature: 39.5 }))).toEqual({
      urgent: true,
      emergency: true,
    });
  });

  it('records the score in a valid R4 RiskAssessment: total, breakdown, band, basis and time', () => {
    const latest = [...calm.slice(0, 4), reading('pulse', 135, 7), reading('consciousness', 'A', 3)];
    const score = news2(news2VitalsOf(latest), 2);
    const assessment = riskAssessmentOf('pat-0001', score, latest, 2, asOfLatest(latest));
    expect(r4Issues(assessment)).toEqual([]);
    expect(assessment.occurrenceDateTime).toBe('2025-03-01T12:07:00.000Z');
    expect(assessment.subject).toEqual({ reference: 'Patient/pat-0001' });
    expect(assessment.basis?.map((b) => b.reference)).toEqual(
      latest.map((l) => `Observation/${l.observationId}`),
    );
    expect(assessment.extension?.find((e) => e.url === NEWS2_TOTAL)?.valueInteger).toBe(score.total);
    const breakdown = Object.fromEntries(
      (assessment.extension ?? [])
        .filter((e) => e.url === NEWS2_PARAMETER_SCORE)
        .map((e) => [e.extension?.[0]?.valueCode, e.extension?.[1]?.valueInteger]),
    );
    expect(breakdown).toEqual(score.parameters);
    expect(breakdown.pulse).toBe(3);
    expect(assessment.prediction?.[0]?.qualitativeRisk?.coding?.[0]?.code).toBe(score.risk);
    expect(assessment.method?.text).toContain('SpO2 scale 2');
  });

  it('opens a valid clinical Flag pointing at its RiskAssessment, and closes it no earlier than it opened', () => {
    const flag = openFlagOf('pat-0001', 'emergency', 'ra-1', at(10));
    expect(r4Issues(flag)).toEqual([]);
    expect(flag).toMatchObject({
      status: 'active',
      subject: { reference: 'Patient/pat-0001' },
      code: { coding: [{ code: 'news2-emergency' }] },
      period: { start: '2025-03-01T12:10:00.000Z' },
      extension: [{ url: FLAG_DETAIL, valueReference: { reference: 'RiskAssessment/ra-1' } }],
    });
    const closed: Flag = closedFlagOf(flag, at(20));
    expect(r4Issues(closed)).toEqual([]);
    expect(closed).toMatchObject({
      status: 'inactive',
      period: { start: flag.period?.start, end: '2025-03-01T12:20:00.000Z' },
    });
    expect(closedFlagOf(flag, at(5)).period).toEqual({ start: flag.period?.start, end: flag.period?.start });
  });
});
