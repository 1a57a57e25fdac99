import { Hl7Message } from '@medplum/core';
import { FhirValidator, orderResultAggregate, parseOrderResultPayload } from '@hospital/fhir';
import { buildOruR01 } from '../../../../scripts/lib/analyzer-simulator';
import { readOruR01 } from './oru-r01.reader';
import { LabResult } from './lab-result';
import { labResultResources } from './lab-result.fhir';
import { orderResultEvent } from './result-intake.service';

function result(status: 'F' | 'P' | 'C' = 'F', text?: string): LabResult {
  const message = text ?? buildOruR01({ placerOrderNumber: 'sr-1', panel: '58410-2' }, { status }).toString();
  const read = readOruR01(Hl7Message.parse(message));
  if (!read.ok) throw new Error(read.ack.text);
  return read.result;
}

const order = { id: 'sr-1', patientId: 'p-1' };

describe('labResultResources', () => {
  it('maps each OBX to an Observation with LOINC code, UCUM quantity, range, interpretation and status', () => {
    const { observations } = labResultResources(result(), order);
    expect(observations).toHaveLength(3);
    expect(observations[0]).toMatchObject({
      resourceType: 'Observation',
      status: 'final',
      code: { coding: [{ system: 'http://loinc.org', code: '718-7' }] },
      subject: { reference: 'Patient/p-1' },
      basedOn: [{ reference: 'ServiceRequest/sr-1' }],
      valueQuantity: { value: 13.8, unit: 'g/dL', system: 'http://unitsofmeasure.org', code: 'g/dL' },
      referenceRange: [{ low: { value: 12, code: 'g/dL' }, high: { value: 16, code: 'g/dL' } }],
      interpretation: [{ coding: [{ code: 'N' }] }],
    });
  });

  it('maps ST values to valueString', () => {
    const text = buildOruR01({ placerOrderNumber: 'sr-1', panel: '58410-2' })
      .toString()
      .replace(/OBX\|1\|NM\|([^|]*)\|\|13\.8\|/, 'OBX|1|ST|$1||clumped\\T\\lysed|');
    const { observations } = labResultResources(result('F', text), order);
    expect(observations[0]?.valueString).toBe('clumped&lysed');
    expect(observations[0]?.valueQuantity).toBeUndefined();
  });

  it('makes a DiagnosticReport of category LAB referring to every Observation, with the OBR status', () => {
    const { report, observations } = labResultResources(result('P'), order);
    expect(report).toMatchObject({
      resourceType: 'DiagnosticReport',
      status: 'preliminary',
      category: [{ coding: [{ code: 'LAB' }] }],
      code: { coding: [{ system: 'http://loinc.org', code: '58410-2' }] },
      basedOn: [{ reference: 'ServiceRequest/sr-1' }],
      subject: { reference: 'Patient/p-1' },
      result: observations.map((o) => ({ reference: `Observation/${o.id}` })),
    });
  });

  it('gives a corrected result the ids of the preliminary one, so it overwrites', () => {
    const preliminary = labResultResources(result('P'), order);
    const corrected = labResultResources(result('C'), order);
    expect(corrected.report.id).toBe(preliminary.report.id);
    expect(corrected.observations.map((o) => o.id)).toEqual(preliminary.observations.map((o) => o.id));
    expect(corrected.report.status).toBe('corrected');
    expect(labResultResources(result('F'), { ...order, id: 'sr-2' }).report.id).not.toBe(
      preliminary.report.id,
    );
  });

  it('builds an order-result event the contract accepts, completing the order on a final result', () => {
    const validator = new FhirValidator();
    for (const [status, orderStatus] of [
      ['F', 'completed'],
      ['P', 'active'],
    ] as const) {
      const read = result(status);
      const resources = labResultResources(read, order);
      const event = orderResultEvent(
        {
          resourceType: 'ServiceRequest',
          id: 'sr-1',
          status: 'active',
          intent: 'order',
          subject: { reference: 'Patient/p-1' },
        },
        'p-1',
        read,
        resources,
      );
      expect(event).toMatchObject({
        exchange: 'orders.results',
        routingKey: 'lis',
        aggregateId: orderResultAggregate('sr-1'),
      });
      const payload = parseOrderResultPayload(validator, JSON.parse(JSON.stringify(event.payload)));
      expect(payload).toMatchObject({
        department: 'lis',
        serviceRequestId: 'sr-1',
        patientId: 'p-1',
        orderStatus,
      });
      expect(payload.resources).toHaveLength(4);
    }
  });
});
