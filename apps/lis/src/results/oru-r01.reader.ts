import type { Hl7Message, Hl7Segment } from '@medplum/core';
import { AckDecision, ErrorLocation, Hl7ErrorCode, refuse } from '../hl7/hl7-ack';
import { HL7_VERSIONS, instantOf, unescapeHl7 } from '../hl7/hl7-text';
import {
  ABNORMAL_FLAGS,
  AbnormalFlag,
  CodedElement,
  LabObservation,
  LabResult,
  RESULT_STATUS,
  ResultStatusCode,
} from './lab-result';

/** Segments an ORU^R01 may carry (HL7 v2.5.1 ORU_R01 structure); Z-segments are allowed too. */
const ORU_R01_SEGMENTS = new Set([
  'MSH',
  'SFT',
  'PID',
  'PD1',
  'NTE',
  'NK1',
  'PV1',
  'PV2',
  'ORC',
  'OBR',
  'TQ1',
  'TQ2',
  'CTD',
  'OBX',
  'FT1',
  'CTI',
  'SPM',
  'DSC',
]);

/** A check that failed: the ACK to answer. */
class Refusal extends Error {
  constructor(readonly decision: AckDecision) {
    super(decision.text);
  }
}

function fail(code: Hl7ErrorCode, text: string, location?: ErrorLocation): never {
  throw new Refusal(refuse('AE', code, text, location));
}

/** A segment with its occurrence number, for error locations. */
interface Located {
  segment: Hl7Segment;
  sequence: number;
}

function text(located: Located, field: number, component = 1): string {
  return unescapeHl7(located.segment.getField(field)?.getComponent(component) ?? '').trim();
}

function required(located: Located, field: number, what: string, component = 1): string {
  const value = text(located, field, component);
  if (value === '') {
    fail(Hl7ErrorCode.RequiredFieldMissing, `${located.segment.name}-${field} (${what}) is empty`, {
      segment: located.segment.name,
      sequence: located.sequence,
      field,
    });
  }
  return value;
}

function coded(located: Located, field: number, what: string): CodedElement {
  const code = required(located, field, what);
  const system = text(located, field, 3);
  if (system !== '' && system !== 'LN') {
    fail(
      Hl7ErrorCode.TableValueNotFound,
      `${located.segment.name}-${field}: coding system ${system} is not LN`,
      {
        segment: located.segment.name,
        sequence: located.sequence,
        field,
        component: 3,
      },
    );
  }
  const display = text(located, field, 2);
  return { code, ...(display ? { display } : {}), system: 'LN' };
}

function statusOf(located: Located, field: number): ResultStatusCode {
  const code = required(located, field, 'result status');
  if (!(code in RESULT_STATUS)) {
    fail(
      Hl7ErrorCode.TableValueNotFound,
      `${located.segment.name}-${field}: result status ${code} is not F, P or C`,
      {
        segment: located.segment.name,
        sequence: located.sequence,
        field,
      },
    );
  }
  return code as ResultStatusCode;
}

function timeOf(located: Located, field: number): string | undefined {
  const value = text(located, field);
  if (value === '') return undefined;
  const instant = instantOf(value);
  if (instant === undefined) {
    fail(Hl7ErrorCode.DataTypeError, `${located.segment.name}-${field} is not a DTM`, {
      segment: located.segment.name,
      sequence: located.sequence,
      field,
    });
  }
  return instant;
}

const NUMBER = /^[+-]?(\d+(\.\d*)?|\.\d+)$/;

function rangeOf(raw: string): LabObservation['referenceRange'] {
  if (raw === '') return undefined;
  const between = /^([+-]?\d+(?:\.\d+)?)\s*-\s*([+-]?\d+(?:\.\d+)?)$/.exec(raw);
  if (between) return { low: Number(between[1]), high: Number(between[2]) };
  const bound = /^([<>])=?\s*([+-]?\d+(?:\.\d+)?)$/.exec(raw);
  if (bound) return bound[1] === '<' ? { high: Number(bound[2]) } : { low: Number(bound[2]) };
  return { text: raw };
}

function observationOf(located: Located, position: number, defaultTime?: string): LabObservation {
  const at = (field: number): ErrorLocation => ({ segment: 'OBX', sequence: located.sequence, field });
  const setIdText = text(located, 1);
  if (setIdText !== '' && !/^\d{1,4}$/.test(setIdText))
    fail(Hl7ErrorCode.DataTypeError, 'OBX-1 is not a number', at(1));
  const valueType = required(located, 2, 'value type');
  const code = coded(located, 3, 'observation identifier');
  const raw = required(located, 5, 'observation value');
  let value: LabObservation['value'];
  if (valueType === 'NM') {
    if (!NUMBER.test(raw)) fail(Hl7ErrorCode.DataTypeError, 'OBX-5 is not a number (OBX-2 is NM)', at(5));
    const unitCode = text(located, 6);
    const unitSystem = text(located, 6, 3);
    const unit = unitCode
      ? {
          code: unitCode,
          display: text(located, 6, 2) || unitCode,
          ...(unitSystem ? { system: unitSystem } : {}),
        }
      : undefined;
    value = { kind: 'quantity', value: Number(raw), ...(unit ? { unit } : {}) };
  } else if (valueType === 'ST' || valueType === 'TX') {
    value = { kind: 'string', value: raw };
  } else {
    fail(Hl7ErrorCode.DataTypeError, `OBX-2 value type ${valueType} is not NM, ST or TX`, at(2));
  }
  const flag = text(located, 8);
  if (flag !== '' && !ABNORMAL_FLAGS.includes(flag as AbnormalFlag)) {
    fail(Hl7ErrorCode.TableValueNotFound, `OBX-8 abnormal flag ${flag} is not in table 0078`, at(8));
  }
  const range = rangeOf(text(located, 7));
  const observedAt = timeOf(located, 14) ?? defaultTime;
  return {
    setId: setIdText === '' ? position : Number(setIdText),
    code,
    value,
    ...(range ? { referenceRange: range } : {}),
    ...(flag ? { interpretation: flag as AbnormalFlag } : {}),
    status: statusOf(located, 11),
    ...(observedAt ? { observedAt } : {}),
  };
}

/** The segments in order, each with its occurrence number; refuses an id that is not an ORU^R01 segment. */
function locate(message: Hl7Message): Located[] {
  const counts = new Map<string, number>();
  return message.segments
    .filter((segment) => segment.toString().trim() !== '')
    .map((segment, index) => {
      const sequence = (counts.get(segment.name) ?? 0) + 1;
      counts.set(segment.name, sequence);
      const known =
        /^[A-Z][A-Z0-9]{2}$/.test(segment.name) &&
        (ORU_R01_SEGMENTS.has(segment.name) || segment.name.startsWith('Z'));
      if (!known) {
        fail(
          Hl7ErrorCode.SegmentSequenceError,
          `segment ${index + 1} is not an ORU^R01 segment`,
          /^[A-Z][A-Z0-9]{2}$/.test(segment.name) ? { segment: segment.name, sequence } : undefined,
        );
      }
      return { segment, sequence };
    });
}

/** The one segment `name` expected after the segments in `before` (a required segment in its place). */
function single(segments: Located[], name: string, after: number): { located: Located; index: number } {
  const index = segments.findIndex((s, i) => i > after && s.segment.name === name);
  if (index < 0)
    fail(Hl7ErrorCode.SegmentSequenceError, `required segment ${name} is missing or out of order`, {
      segment: name,
    });
  const extra = segments.find((s, i) => i !== index && s.segment.name === name);
  if (extra)
    fail(Hl7ErrorCode.SegmentSequenceError, `one ${name} per message is taken`, {
      segment: name,
      sequence: extra.sequence,
    });
  return { located: segments[index], index };
}

/**
 * Checks an ORU^R01 before it touches the database, in the order of HL7 v2.5.1 chapter 2: the version
 * (AR 203) and the message type (AR 200) first, then the structure (MSH, PID, one OBR, at least one OBX
 * after it: AE 100), required fields (AE 101), data types (AE 102) and table values (AE 103). Returns the
 * result, or the ACK to answer. Whether the order exists is the caller's question (AE 204).
 */
export function readOruR01(
  message: Hl7Message,
): { ok: true; result: LabResult } | { ok: false; ack: AckDecision } {
  try {
    return { ok: true, result: read(message) };
  } catch (error) {
    if (error instanceof Refusal) return { ok: false, ack: error.decision };
    throw error;
  }
}

function read(message: Hl7Message): LabResult {
  const msh = message.segments[0];
  const header: Located = { segment: msh, sequence: 1 };
  const version = text(header, 12);
  if (!(HL7_VERSIONS as readonly string[]).includes(version)) {
    throw new Refusal(
      refuse('AR', Hl7ErrorCode.UnsupportedVersionId, `version ${version || '(none)'} is not 2.5.1`, {
        segment: 'MSH',
        sequence: 1,
        field: 12,
      }),
    );
  }
  const type = `${text(header, 9, 1)}^${text(header, 9, 2)}`;
  if (type !== 'ORU^R01') {
    throw new Refusal(
      refuse('AR', Hl7ErrorCode.UnsupportedMessageType, `message type ${type} is not ORU^R01`, {
        segment: 'MSH',
        sequence: 1,
        field: 9,
      }),
    );
  }
  const controlId = required(header, 10, 'message control id');
  const sendingApplication = required(header, 3, 'sending application');
  const sentAt = timeOf(header, 7);
  const segments = locate(message);
  const pid = single(segments, 'PID', 0);
  const obr = single(segments, 'OBR', pid.index);
  const obxs = segments.filter((s) => s.segment.name === 'OBX');
  if (obxs.length === 0)
    fail(Hl7ErrorCode.SegmentSequenceError, 'required segment OBX is missing', { segment: 'OBX' });
  const early = obxs.find((s) => segments.indexOf(s) < obr.index);
  if (early)
    fail(Hl7ErrorCode.SegmentSequenceError, 'an OBX comes before its OBR', {
      segment: 'OBX',
      sequence: early.sequence,
    });
  const observedAt = timeOf(obr.located, 7);
  const reportedAt = timeOf(obr.located, 22) ?? sentAt;
  if (reportedAt === undefined)
    fail(Hl7ErrorCode.RequiredFieldMissing, 'neither OBR-22 nor MSH-7 gives the report time', {
      segment: 'OBR',
      sequence: 1,
      field: 22,
    });
  const fillerOrderNumber = text(obr.located, 3);
  return {
    sendingApplication,
    sendingFacility: text(header, 4),
    controlId,
    placerOrderNumber: required(obr.located, 2, 'placer order number'),
    ...(fillerOrderNumber ? { fillerOrderNumber } : {}),
    service: coded(obr.located, 4, 'universal service identifier'),
    status: statusOf(obr.located, 25),
    ...(observedAt ? { observedAt } : {}),
    reportedAt,
    observations: obxs.map((located, i) => observationOf(located, i + 1, observedAt)),
  };
}
