import { createHash } from 'node:crypto';
import { Hl7Message, Hl7Segment } from '@medplum/core';
import type { Patient, ServiceRequest } from '@medplum/fhirtypes';
import { escapeHl7, hl7Timestamp, HL7_VERSION, LIS_APPLICATION, LIS_FACILITY } from '../hl7/hl7-text';

/** The analyzer as receiving application and facility (MSH-5/6) of the orders. */
export const ANALYZER_APPLICATION = 'ANALYZER';
export const ANALYZER_FACILITY = 'LAB';

/**
 * MSH-10 of the order message sent for outbox message `messageId`: the same on every retry, so the
 * analyzer recognises a resent order; 20 characters, the length HL7 v2.5.1 gives MSH-10.
 */
export function orderControlId(messageId: string): string {
  return `LIS${createHash('sha256').update(messageId).digest('hex').slice(0, 17).toUpperCase()}`;
}

const SEX: Record<string, string> = { male: 'M', female: 'F', other: 'O', unknown: 'U' };

function patientIdentifiers(patient: Patient): string {
  const own = `${escapeHl7(patient.id ?? '')}^^^${LIS_FACILITY}^PI`;
  const mrns = (patient.identifier ?? [])
    .filter((identifier) => identifier.value)
    .map((identifier) => `${escapeHl7(identifier.value ?? '')}^^^${LIS_FACILITY}^MR`);
  return [own, ...mrns].join('~');
}

function patientName(patient: Patient): string {
  const name = patient.name?.[0];
  if (!name) return '';
  return [escapeHl7(name.family ?? ''), escapeHl7(name.given?.[0] ?? '')].join('^');
}

/** The order's LOINC test or panel (OBR-4): the first LOINC coding, else the first coding. */
function universalService(order: ServiceRequest): string {
  const codings = order.code?.coding ?? [];
  const coding = codings.find((c) => c.system === 'http://loinc.org') ?? codings[0];
  if (!coding?.code) return '';
  const system = coding.system === 'http://loinc.org' ? 'LN' : '';
  return [escapeHl7(coding.code), escapeHl7(coding.display ?? order.code?.text ?? ''), system].join('^');
}

/**
 * The laboratory order message sent to the analyzer: OML^O21 (HL7 v2.5.1 laboratory order), with MSH,
 * PID (the LIS's patient id and MRNs, name, birth date, sex), ORC (NW, placer order number = the
 * ServiceRequest id) and OBR (the same placer number, the LOINC panel). The analyzer quotes OBR-2 in its
 * ORU^R01, which is how a result finds its order.
 */
export function buildOmlO21(
  order: ServiceRequest,
  patient: Patient,
  controlId: string,
  now = new Date(),
): Hl7Message {
  const placer = `${escapeHl7(order.id ?? '')}^${LIS_APPLICATION}`;
  const birthDate = (patient.birthDate ?? '').replace(/-/g, '');
  const priority = order.priority === 'stat' ? 'S' : 'R';
  return new Hl7Message([
    new Hl7Segment([
      'MSH',
      '^~\\&',
      LIS_APPLICATION,
      LIS_FACILITY,
      ANALYZER_APPLICATION,
      ANALYZER_FACILITY,
      hl7Timestamp(now),
      '',
      'OML^O21^OML_O21',
      controlId,
      'P',
      HL7_VERSION,
    ]),
    new Hl7Segment([
      'PID',
      '1',
      '',
      patientIdentifiers(patient),
      '',
      patientName(patient),
      '',
      birthDate,
      SEX[patient.gender ?? ''] ?? 'U',
    ]),
    new Hl7Segment(['ORC', 'NW', placer, '', '', '', '', '', '', hl7Timestamp(now)]),
    new Hl7Segment(['OBR', '1', placer, '', universalService(order), priority]),
  ]);
}
