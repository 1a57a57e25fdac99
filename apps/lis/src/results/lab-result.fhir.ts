import { createHash } from 'node:crypto';
import type {
  CodeableConcept,
  DiagnosticReport,
  Observation,
  Patient,
  Quantity,
  Reference,
  ServiceRequest,
} from '@medplum/fhirtypes';
import { CodedElement, LabObservation, LabResult, RESULT_STATUS } from './lab-result';

const LOINC = 'http://loinc.org';
const UCUM = 'http://unitsofmeasure.org';
const INTERPRETATION = 'http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation';
const OBSERVATION_CATEGORY = 'http://terminology.hl7.org/CodeSystem/observation-category';
const DIAGNOSTIC_SERVICE = 'http://terminology.hl7.org/CodeSystem/v2-0074';
/** The identifier system of the analyzer's own order numbers (OBR-3). */
export const FILLER_ORDER_SYSTEM = 'urn:hospital:lis:filler-order-number';

/** A FHIR id made from `parts`, the same every time: a corrected result overwrites, never duplicates. */
export function resultId(prefix: string, ...parts: string[]): string {
  return `${prefix}-${createHash('sha256').update(parts.join('|')).digest('hex').slice(0, 40)}`;
}

function loinc(element: CodedElement): CodeableConcept {
  return {
    coding: [{ system: LOINC, code: element.code, ...(element.display ? { display: element.display } : {}) }],
    ...(element.display ? { text: element.display } : {}),
  };
}

function quantity(value: number, unit: CodedElement | undefined): Quantity {
  if (unit === undefined) return { value };
  const ucum = unit.system === undefined || unit.system === 'UCUM';
  return { value, unit: unit.display ?? unit.code, ...(ucum ? { system: UCUM, code: unit.code } : {}) };
}

function referenceRange(observation: LabObservation): Observation['referenceRange'] {
  const range = observation.referenceRange;
  if (range === undefined) return undefined;
  const unit = observation.value.kind === 'quantity' ? observation.value.unit : undefined;
  return [
    {
      ...(range.low !== undefined ? { low: quantity(range.low, unit) } : {}),
      ...(range.high !== undefined ? { high: quantity(range.high, unit) } : {}),
      ...(range.text !== undefined ? { text: range.text } : {}),
    },
  ];
}

/** The order a result is for, as the LIS holds it. */
export interface ResultOrder {
  id: string;
  patientId: string;
}

/** The FHIR resources of one analyzer result: an Observation per OBX, and the DiagnosticReport of the panel. */
export interface LabResultResources {
  report: DiagnosticReport;
  observations: Observation[];
}

/**
 * Maps a checked ORU^R01 onto FHIR R4: one Observation per OBX (LOINC code, NM as a UCUM valueQuantity,
 * ST / TX as valueString, reference range, interpretation, status) and a DiagnosticReport (panel code,
 * category LAB, results, status, basedOn the order, subject the order's patient). Ids derive from the
 * order and the codes, so a corrected result replaces the preliminary one.
 */
export function labResultResources(result: LabResult, order: ResultOrder): LabResultResources {
  const subject: Reference<Patient> = { reference: `Patient/${order.patientId}` };
  const basedOn: Reference<ServiceRequest>[] = [{ reference: `ServiceRequest/${order.id}` }];
  const observations = result.observations.map((obx): Observation => ({
    resourceType: 'Observation',
    id: resultId('obs', order.id, result.service.code, obx.code.code),
    status: RESULT_STATUS[obx.status],
    category: [{ coding: [{ system: OBSERVATION_CATEGORY, code: 'laboratory', display: 'Laboratory' }] }],
    code: loinc(obx.code),
    subject,
    basedOn,
    ...(obx.observedAt ? { effectiveDateTime: obx.observedAt } : {}),
    issued: result.reportedAt,
    ...(obx.value.kind === 'quantity'
      ? { valueQuantity: quantity(obx.value.value, obx.value.unit) }
      : { valueString: obx.value.value }),
    ...(obx.interpretation
      ? { interpretation: [{ coding: [{ system: INTERPRETATION, code: obx.interpretation }] }] }
      : {}),
    ...(obx.referenceRange ? { referenceRange: referenceRange(obx) } : {}),
  }));
  const report: DiagnosticReport = {
    resourceType: 'DiagnosticReport',
    id: resultId('lab', order.id, result.service.code),
    ...(result.fillerOrderNumber
      ? { identifier: [{ system: FILLER_ORDER_SYSTEM, value: result.fillerOrderNumber }] }
      : {}),
    basedOn,
    status: RESULT_STATUS[result.status],
    category: [{ coding: [{ system: DIAGNOSTIC_SERVICE, code: 'LAB', display: 'Laboratory' }] }],
    code: loinc(result.service),
    subject,
    ...(result.observedAt ? { effectiveDateTime: result.observedAt } : {}),
    issued: result.reportedAt,
    result: observations.map((o) => ({ reference: `Observation/${o.id}` })),
  };
  return { report, observations };
}

/** Whether the result ends the order: a final or corrected report. */
export function completesOrder(result: LabResult): boolean {
  return result.status === 'F' || result.status === 'C';
}
