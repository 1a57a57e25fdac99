import type { Flag, RiskAssessment } from '@medplum/fhirtypes';
import {
  NEWS2_PARAMETERS,
  type Consciousness,
  type News2Parameter,
  type News2Risk,
  type News2Score,
  type News2Vitals,
  type Spo2Scale,
} from '../news2/news2';

/** The platform's codes for what the monitor records (NEWS2 has no LOINC or FHIR code of its own here). */
export const ICU_CODES = 'urn:hospital:icu';
/** NEWS2 clinical risk bands: low, low-medium, medium, high. */
export const NEWS2_RISK_SYSTEM = 'urn:hospital:icu:news2-risk';
const RISK_PROBABILITY = 'http://terminology.hl7.org/CodeSystem/risk-probability';
const FLAG_CATEGORY = 'http://terminology.hl7.org/CodeSystem/flag-category';
/** R4's standard extension pointing a Flag at the data it is about. */
export const FLAG_DETAIL = 'http://hl7.org/fhir/StructureDefinition/flag-detail';
/** Extensions of the RiskAssessment (R4 has no element for a score): the aggregate, completeness, breakdown. */
export const NEWS2_TOTAL = 'urn:hospital:icu:news2-total';
export const NEWS2_COMPLETE = 'urn:hospital:icu:news2-complete';
export const NEWS2_PARAMETER_SCORE = 'urn:hospital:icu:news2-parameter-score';

/** The escalation levels of NEWS2: urgent (aggregate ≥ 5 or a single parameter 3), emergency (≥ 7). */
export type AlertLevel = 'urgent' | 'emergency';
export const ALERT_LEVELS: readonly AlertLevel[] = ['urgent', 'emergency'];

const LEVEL_TEXT: Record<AlertLevel, string> = {
  urgent: 'NEWS2 urgent response: aggregate 5 or more, or a single parameter scoring 3',
  emergency: 'NEWS2 emergency response: aggregate 7 or more',
};

/** A patient's latest reading of one parameter, and the Observation it came from. */
export interface LatestVital {
  parameter: News2Parameter;
  value: number | Consciousness;
  effectiveAt: Date;
  observationId: string;
}

/** The score last recorded for a patient. */
export interface RecordedScore {
  total: number;
  parameters: Partial<Record<News2Parameter, number>>;
}

/** NEWS2's input from the latest readings: the O2 flow rate becomes "on oxygen" above 0 L/min. */
export function news2VitalsOf(latest: readonly LatestVital[]): News2Vitals {
  const vitals: News2Vitals = {};
  for (const { parameter, value } of latest) {
    if (parameter === 'consciousness') vitals.consciousness = value as Consciousness;
    else if (parameter === 'onOxygen') vitals.onOxygen = (value as number) > 0;
    else vitals[parameter] = value as number;
  }
  return vitals;
}

/** Whether the score differs from the one last recorded: the aggregate or any parameter's score. */
export function scoreChanged(previous: RecordedScore | undefined, score: News2Score): boolean {
  if (previous === undefined) return true;
  if (previous.total !== score.total) return true;
  return NEWS2_PARAMETERS.some((p) => previous.parameters[p] !== score.parameters[p]);
}

/** The levels the score calls for (emergency implies urgent: each is open while its criterion holds). */
export function levelsCalledFor(score: News2Score): Record<AlertLevel, boolean> {
  return { urgent: score.escalate, emergency: score.emergency };
}

/** The NEWS2 band and its nearest R4 risk-probability code. */
const RISK_PROBABILITY_OF: Record<News2Risk, string> = {
  low: 'low',
  'low-medium': 'low',
  medium: 'moderate',
  high: 'high',
};

/**
 * The RiskAssessment of a NEWS2 score: `occurrenceDateTime` is the time of the newest reading scored,
 * `basis` the Observations scored, the aggregate, completeness and per-parameter scores in extensions,
 * the risk band as `prediction.qualitativeRisk`.
 */
export function riskAssessmentOf(
  patientId: string,
  score: News2Score,
  latest: readonly LatestVital[],
  scale: Spo2Scale,
  asOf: Date,
): RiskAssessment {
  const scored = NEWS2_PARAMETERS.filter((p) => score.parameters[p] !== undefined);
  return {
    resourceType: 'RiskAssessment',
    status: 'final',
    subject: { reference: `Patient/${patientId}` },
    occurrenceDateTime: asOf.toISOString(),
    code: { coding: [{ system: ICU_CODES, code: 'news2', display: 'National Early Warning Score 2' }] },
    method: { text: `NEWS2 (Royal College of Physicians, 2017), SpO2 scale ${scale}` },
    basis: latest.map((vital) => ({ reference: `Observation/${vital.observationId}` })),
    prediction: [
      {
        outcome: { text: 'Clinical deterioration' },
        qualitativeRisk: {
          coding: [
            { system: NEWS2_RISK_SYSTEM, code: score.risk },
            { system: RISK_PROBABILITY, code: RISK_PROBABILITY_OF[score.risk] },
          ],
          text: `NEWS2 ${score.total}: ${score.risk} clinical risk`,
        },
      },
    ],
    extension: [
      { url: NEWS2_TOTAL, valueInteger: score.total },
      { url: NEWS2_COMPLETE, valueBoolean: score.complete },
      ...scored.map((parameter) => ({
        url: NEWS2_PARAMETER_SCORE,
        extension: [
          { url: 'parameter', valueCode: parameter },
          { url: 'score', valueInteger: score.parameters[parameter] },
        ],
      })),
    ],
  };
}

/** An open alert: a clinical Flag on the patient from `asOf`, pointing at the RiskAssessment behind it. */
export function openFlagOf(patientId: string, level: AlertLevel, assessmentId: string, asOf: Date): Flag {
  return {
    resourceType: 'Flag',
    status: 'active',
    category: [{ coding: [{ system: FLAG_CATEGORY, code: 'clinical', display: 'Clinical' }] }],
    code: { coding: [{ system: ICU_CODES, code: `news2-${level}` }], text: LEVEL_TEXT[level] },
    subject: { reference: `Patient/${patientId}` },
    period: { start: asOf.toISOString() },
    extension: [{ url: FLAG_DETAIL, valueReference: { reference: `RiskAssessment/${assessmentId}` } }],
  };
}

/** The same Flag closed at `asOf` (de-escalation): inactive, its period ended. */
export function closedFlagOf<F extends Flag>(flag: F, asOf: Date): F {
  const start = flag.period?.start;
  const end = start !== undefined && Date.parse(start) > asOf.getTime() ? start : asOf.toISOString();
  return { ...flag, status: 'inactive', period: { ...flag.period, end } };
}

/** The time of the newest reading scored: what the assessment is "as of". */
export function asOfLatest(latest: readonly LatestVital[]): Date {
  return new Date(Math.max(...latest.map((vital) => vital.effectiveAt.getTime())));
}
