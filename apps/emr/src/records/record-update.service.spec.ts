import type { Patient, ServiceRequest } from '@medplum/fhirtypes';
import { FhirResourceStore, ORDER_CATEGORY } from '@hospital/fhir';
import { Session } from '@hospital/platform';
import { TwoPhaseCoordinator, TwoPhaseRequest } from '@hospital/transactions';
import { RecordUpdateService } from './record-update.service';
import { RecordsErrorCode, RecordsException } from './records.exception';

const session = {} as Session;

/** A coordinator whose participants all vote YES: it runs the local work as the decision would. */
function coordinator(seen: TwoPhaseRequest<Session>[]): TwoPhaseCoordinator<Session> {
  return {
    execute: async (request: TwoPhaseRequest<Session>) => {
      seen.push(request);
      await request.local?.(session);
      return { gtid: request.gtid, outcome: 'committed', acknowledged: true };
    },
  } as unknown as TwoPhaseCoordinator<Session>;
}

const order = (category: (typeof ORDER_CATEGORY)[keyof typeof ORDER_CATEGORY]): ServiceRequest => ({
  resourceType: 'ServiceRequest',
  id: `sr-${category.code}`,
  status: 'active',
  intent: 'order',
  category: [{ coding: [category] }],
  subject: { reference: 'Patient/p1' },
});

describe('RecordUpdateService', () => {
  const patientAt = (versionId: string): Patient => ({
    resourceType: 'Patient',
    id: 'p1',
    meta: { versionId, lastUpdated: '2026-11-22T00:00:00Z' },
    name: [{ family: 'Doe' }],
  });

  it('routes lab orders to the LIS and imaging orders to the PACS, sending demographics without meta', async () => {
    const seen: TwoPhaseRequest<Session>[] = [];
    const store = {
      read: () => Promise.resolve(patientAt('3')),
      createMany: (_tx: Session, items: { resource: ServiceRequest }[]) =>
        Promise.resolve(items.map(({ resource }) => ({ ...resource, meta: { versionId: '1' } }))),
    } as unknown as FhirResourceStore;
    const service = new RecordUpdateService(store, coordinator(seen));
    await service.commit({
      gtid: 'g1',
      patient: { mode: 'reference', resource: patientAt('3') },
      encounters: [],
      orders: [order(ORDER_CATEGORY.laboratory), order(ORDER_CATEGORY.imaging)],
    });
    const branches = seen[0]?.branches ?? [];
    expect(branches.map((b) => b.participant)).toEqual(['lis', 'pacs']);
    const lis = branches[0]?.payload as { patient: Patient; serviceRequests: ServiceRequest[] };
    expect(lis.patient.meta).toBeUndefined();
    expect(lis.serviceRequests.map((o) => o.id)).toEqual(['sr-108252007']);
  });

  it('aborts an order for a patient whose demographics changed since the update read them', async () => {
    const store = { read: () => Promise.resolve(patientAt('4')) } as unknown as FhirResourceStore;
    const service = new RecordUpdateService(store, coordinator([]));
    const run = service.commit({
      gtid: 'g2',
      patient: { mode: 'reference', resource: patientAt('3') },
      encounters: [],
      orders: [order(ORDER_CATEGORY.laboratory)],
    });
    await expect(run).rejects.toBeInstanceOf(RecordsException);
    await expect(run).rejects.toMatchObject({ code: RecordsErrorCode.PatientChanged, status: 409 });
  });
});
