import { Hl7Message } from '@medplum/core';
import { buildOruR01 } from '../../../../scripts/lib/analyzer-simulator';
import { buildAck } from '../hl7/hl7-ack';
import { readOruR01 } from './oru-r01.reader';

/** A valid CBC result for order `sr-1`, as text, for the malformed variants below. */
const valid = buildOruR01(
  { placerOrderNumber: 'sr-1', panel: '58410-2', patientIdentifiers: 'p-1^^^HOSPITAL^PI' },
  { controlId: 'MSG-1', now: new Date('2026-03-01T10:00:00Z') },
).toString();

function decide(text: string) {
  const read = readOruR01(Hl7Message.parse(text));
  if (read.ok) return { code: 'AA' };
  const ack = buildAck(Hl7Message.parse(text), read.ack, 'ACK-1');
  return {
    code: read.ack.code,
    error: read.ack.error?.code,
    msa2: ack.getSegment('MSA')?.getField(2)?.toString(),
    err2: ack.getSegment('ERR')?.getField(2)?.toString(),
    err3: ack.getSegment('ERR')?.getField(3)?.toString(),
    err4: ack.getSegment('ERR')?.getField(4)?.toString(),
  };
}

const replaceSegment = (text: string, name: string, replace: (fields: string[]) => string[]) =>
  text
    .split('\r')
    .map((s) => (s.startsWith(`${name}|`) ? replace(s.split('|')).join('|') : s))
    .join('\r');
const setField = (name: string, field: number, value: string) => (fields: string[]) => {
  const copy = [...fields];
  copy[name === 'MSH' ? field - 1 : field] = value;
  return copy;
};

describe('readOruR01', () => {
  it('reads a valid result: order number, panel, status, report time and each analyte', () => {
    const read = readOruR01(Hl7Message.parse(valid));
    expect(read.ok).toBe(true);
    if (!read.ok) return;
    expect(read.result).toMatchObject({
      sendingApplication: 'ANALYZER',
      sendingFacility: 'LAB',
      controlId: 'MSG-1',
      placerOrderNumber: 'sr-1',
      service: { code: '58410-2' },
      status: 'F',
      reportedAt: '2026-03-01T10:00:00.000Z',
    });
    expect(read.result.observations.map((o) => o.code.code)).toEqual(['718-7', '6690-2', '777-3']);
    expect(read.result.observations[0]).toMatchObject({
      value: { kind: 'quantity', value: 13.8, unit: { code: 'g/dL', system: 'UCUM' } },
      referenceRange: { low: 12, high: 16 },
      interpretation: 'N',
      status: 'F',
    });
  });

  it.each([
    [
      'another version (MSH-12 2.3)',
      replaceSegment(valid, 'MSH', setField('MSH', 12, '2.3')),
      'AR',
      203,
      'MSH^1^12',
    ],
    [
      'another message type (ADT^A01)',
      replaceSegment(valid, 'MSH', setField('MSH', 9, 'ADT^A01^ADT_A01')),
      'AR',
      200,
      'MSH^1^9',
    ],
    ['a segment that is not an ORU^R01 segment', `${valid}\rXYZ|1|junk`, 'AE', 100, 'XYZ^1'],
    ['a malformed segment id', valid.replace('\rOBR|', '\rob|'), 'AE', 100, ''],
    [
      'no PID',
      valid
        .split('\r')
        .filter((s) => !s.startsWith('PID|'))
        .join('\r'),
      'AE',
      100,
      'PID^1',
    ],
    [
      'no OBR',
      valid
        .split('\r')
        .filter((s) => !s.startsWith('OBR|'))
        .join('\r'),
      'AE',
      100,
      'OBR^1',
    ],
    [
      'no OBX',
      valid
        .split('\r')
        .filter((s) => !s.startsWith('OBX|'))
        .join('\r'),
      'AE',
      100,
      'OBX^1',
    ],
    ['an NM value that is not a number', valid.replace('|13.8|', '|thirteen|'), 'AE', 102, 'OBX^1^5'],
    [
      'an empty placer order number',
      replaceSegment(valid, 'OBR', setField('OBR', 2, '')),
      'AE',
      101,
      'OBR^1^2',
    ],
    [
      'an unknown result status',
      replaceSegment(valid, 'OBR', setField('OBR', 25, 'Z')),
      'AE',
      103,
      'OBR^1^25',
    ],
    ['an unsupported value type', valid.replace('OBX|2|NM|', 'OBX|2|ED|'), 'AE', 102, 'OBX^2^2'],
    [
      'a result time that is not a DTM',
      replaceSegment(valid, 'OBR', setField('OBR', 7, '2026-03-01')),
      'AE',
      102,
      'OBR^1^7',
    ],
  ])('answers %s with the right ACK code, table 0357 code and location', (_, text, code, error, location) => {
    expect(decide(text)).toEqual({
      code,
      error,
      msa2: 'MSG-1',
      err2: location,
      err3: expect.stringMatching(new RegExp(`^${error}\\^.+\\^HL70357$`)),
      err4: 'E',
    });
  });
});
