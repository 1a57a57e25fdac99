import { Hl7Message, Hl7Segment } from '@medplum/core';
import { escapeHl7, hl7Timestamp, HL7_VERSION, LIS_APPLICATION, LIS_FACILITY } from './hl7-text';

/** HL7 table 0357 (message error condition codes) entries the LIS answers with. */
export const Hl7ErrorCode = {
  SegmentSequenceError: 100,
  RequiredFieldMissing: 101,
  DataTypeError: 102,
  TableValueNotFound: 103,
  UnsupportedMessageType: 200,
  UnsupportedVersionId: 203,
  UnknownKeyIdentifier: 204,
  ApplicationInternalError: 207,
} as const;
export type Hl7ErrorCode = (typeof Hl7ErrorCode)[keyof typeof Hl7ErrorCode];

const ERROR_TEXT: Record<Hl7ErrorCode, string> = {
  100: 'Segment sequence error',
  101: 'Required field missing',
  102: 'Data type error',
  103: 'Table value not found',
  200: 'Unsupported message type',
  203: 'Unsupported version id',
  204: 'Unknown key identifier',
  207: 'Application internal error',
};

/** Where an error is (ERR-2, ERL): a segment id, its occurrence (1-based), a field position. */
export interface ErrorLocation {
  segment: string;
  sequence?: number;
  field?: number;
  component?: number;
}

/** An acknowledgment code of the original mode (MSA-1). */
export type AckCode = 'AA' | 'AE' | 'AR';

/**
 * What the LIS answers to a received message: AA (applied, or a duplicate already applied), AE (an error
 * in the message the sender can fix and send again), AR (a message the LIS will never take: version,
 * type). The text names codes and positions, never patient data.
 */
export interface AckDecision {
  code: AckCode;
  text: string;
  error?: { code: Hl7ErrorCode; location?: ErrorLocation };
}

/** An accept, with `text` in MSA-3 (`duplicate` says the message was applied before). */
export function accept(text = 'applied'): AckDecision {
  return { code: 'AA', text };
}

/** An AE or AR with its table 0357 code and location. */
export function refuse(
  code: 'AE' | 'AR',
  error: Hl7ErrorCode,
  text: string,
  location?: ErrorLocation,
): AckDecision {
  return { code, text, error: { code: error, location } };
}

function errSegment(error: NonNullable<AckDecision['error']>, text: string): Hl7Segment {
  const at = error.location;
  const location = at
    ? [at.segment, at.sequence ?? 1, at.field ?? '', '', at.component ?? ''].join('^').replace(/\^+$/, '')
    : '';
  return new Hl7Segment([
    'ERR',
    '',
    location,
    `${error.code}^${ERROR_TEXT[error.code]}^HL70357`,
    'E',
    '',
    '',
    '',
    escapeHl7(text),
  ]);
}

/**
 * The ACK of HL7 v2.5.1 chapter 2 for `received` (original acknowledgment mode): MSH with the sender and
 * receiver swapped, MSA-1 the code, MSA-2 the received MSH-10, MSA-3 the text, and on an error an ERR with
 * the location (ERR-2), the table 0357 code (ERR-3), severity E (ERR-4) and the text (ERR-8).
 */
export function buildAck(
  received: Hl7Message | undefined,
  decision: AckDecision,
  controlId: string,
): Hl7Message {
  const msh = received?.getSegment('MSH');
  const field = (n: number) => msh?.getField(n)?.toString() ?? '';
  const trigger = msh?.getField(9)?.getComponent(2) ?? '';
  const segments = [
    new Hl7Segment([
      'MSH',
      '^~\\&',
      field(5) || LIS_APPLICATION,
      field(6) || LIS_FACILITY,
      field(3),
      field(4),
      hl7Timestamp(),
      '',
      trigger ? `ACK^${trigger}^ACK` : 'ACK',
      controlId,
      field(11) || 'P',
      HL7_VERSION,
    ]),
    new Hl7Segment(['MSA', decision.code, field(10), escapeHl7(decision.text)]),
  ];
  if (decision.error) segments.push(errSegment(decision.error, decision.text));
  return new Hl7Message(segments);
}

/** An acknowledgment as read back: MSA-1, MSA-3 and the first ERR-3 code, if any. */
export interface ReceivedAck {
  code: string;
  text: string;
  errorCode?: string;
}

/** Reads the acknowledgment an analyzer (or the LIS) answered. */
export function readAck(ack: Hl7Message): ReceivedAck {
  const msa = ack.getSegment('MSA');
  const errorCode = ack.getSegment('ERR')?.getField(3)?.getComponent(1);
  return {
    code: (msa?.getField(1)?.toString() ?? '').toUpperCase(),
    text: msa?.getField(3)?.toString() ?? '',
    ...(errorCode ? { errorCode } : {}),
  };
}
