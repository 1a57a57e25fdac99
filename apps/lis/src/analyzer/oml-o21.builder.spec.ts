import { Hl7Message } from '@medplum/core';
import type { Patient, ServiceRequest } from '@medplum/fhirtypes';
import { readAck } from '../hl7/hl7-ack';
import { orderAckOutcome } from './analyzer-order.handler';
import { buildOmlO21, orderControlId } from './oml-o21.builder';

const patient: Patient = {
  resourceType: 'Patient',
  id: 'p-1',
  identifier: [{ system: 'urn:oid:1.2.36.146.595.217.0.1', value: 'MRN-7' }],
  name: [{ family: 'Synthetic^Pipe', given: ['Test'] }],
  gender: 'female',
  birthDate: '1970-02-03',
};
const order: ServiceRequest = {
  resourceType: 'ServiceRequest',
  id: 'sr-1',
  status: 'active',
  intent: 'order',
  code: { coding: [{ system: 'http://loinc.org', code: '58410-2', display: 'CBC panel' }] },
  subject: { reference: 'Patient/p-1' },
};

describe('buildOmlO21', () => {
  const message = Hl7Message.parse(buildOmlO21(order, patient, 'LIS0123456789ABCDEF0').toString());

  it('is an OML^O21 v2.5.1 with the given MSH-10', () => {
    const msh = message.getSegment('MSH');
    expect(msh?.getField(9)?.toString()).toBe('OML^O21^OML_O21');
    expect(msh?.getField(10)?.toString()).toBe('LIS0123456789ABCDEF0');
    expect(msh?.getField(12)?.toString()).toBe('2.5.1');
    expect(message.segments.map((s) => s.name)).toEqual(['MSH', 'PID', 'ORC', 'OBR']);
  });

  it('carries the order id as placer order number in ORC-2 and OBR-2, and the LOINC panel in OBR-4', () => {
    expect(message.getSegment('ORC')?.getField(1)?.toString()).toBe('NW');
    expect(message.getSegment('ORC')?.getField(2)?.getComponent(1)).toBe('sr-1');
    expect(message.getSegment('OBR')?.getField(2)?.getComponent(1)).toBe('sr-1');
    expect(message.getSegment('OBR')?.getField(4)?.toString()).toBe('58410-2^CBC panel^LN');
  });

  it('identifies the patient, escaping delimiters in names', () => {
    const pid = message.getSegment('PID');
    expect(pid?.getField(3)?.toString()).toBe('p-1^^^HOSPITAL^PI~MRN-7^^^HOSPITAL^MR');
    expect(pid?.getField(5)?.getComponent(1)).toBe('Synthetic\\S\\Pipe');
    expect(pid?.getField(7)?.toString()).toBe('19700203');
    expect(pid?.getField(8)?.toString()).toBe('F');
  });
});

describe('orderControlId', () => {
  it('is stable per outbox message, 20 characters, and differs between messages', () => {
    const id = orderControlId('3f0c5a4e-0000-4000-8000-000000000001');
    expect(id).toBe(orderControlId('3f0c5a4e-0000-4000-8000-000000000001'));
    expect(id).toHaveLength(20);
    expect(orderControlId('3f0c5a4e-0000-4000-8000-000000000002')).not.toBe(id);
  });
});

describe('orderAckOutcome', () => {
  const ack = (code: string) =>
    readAck(Hl7Message.parse(`MSH|^~\\&|A|B|C|D|20260101||ACK|1|P|2.5.1\rMSA|${code}|X`));
  it('applies on AA, dead-letters on AR, retries on AE', () => {
    expect(orderAckOutcome(ack('AA'))).toBe('applied');
    expect(orderAckOutcome(ack('AR'))).toBe('rejected');
    expect(orderAckOutcome(ack('AE'))).toBe('retry');
  });
});
