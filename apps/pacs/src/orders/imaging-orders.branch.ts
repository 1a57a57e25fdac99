import type { ServiceRequest } from '@medplum/fhirtypes';
import { FhirResourceStore, FhirValidator, ORDER_CATEGORY, parseRecordSyncPayload } from '@hospital/fhir';
import type { Session } from '@hospital/platform';
import { Outbox, type BranchWork } from '@hospital/transactions';
import { accessionNumberOf, studyInstanceUidOf } from '../dicom/dicom-identifiers';
import {
  WORKLIST_EXCHANGE,
  WORKLIST_REQUESTED_TYPE,
  type WorklistRequested,
} from '../worklist/worklist-events';

/** Whether the EMR routed `order` to imaging (its category is the SNOMED CT imaging code). */
export function isImagingOrder(order: ServiceRequest): boolean {
  const { system, code } = ORDER_CATEGORY.imaging;
  return (order.category ?? []).some((c) =>
    (c.coding ?? []).some((k) => k.system === system && k.code === code),
  );
}

/**
 * The PACS's side of the EMR's record update, as one 2PC branch step: keeps the copies of the patient and
 * the orders (as every department does) and, in the same branch transaction, takes each imaging order it
 * did not hold before under its accession number and appends one event asking for its worklist entry. A
 * later record update re-sends the orders: they are held already, so nothing is asked twice. An order the
 * PACS completed (its study stored) keeps its completed status when the EMR re-sends it as active.
 */
export function imagingOrdersBranch(
  store: FhirResourceStore,
  validator: FhirValidator,
  outbox: Outbox,
): BranchWork<Session> {
  return async (tx, payload, gtid) => {
    const { patient, serviceRequests } = parseRecordSyncPayload(validator, payload);
    const completed = new Set(
      (
        await tx.query<{ service_request_id: string }>(
          `SELECT service_request_id FROM pacs_imaging_order
            WHERE service_request_id = ANY($1::text[]) AND completed_at IS NOT NULL`,
          [serviceRequests.map((o) => o.id)],
        )
      ).map((r) => r.service_request_id),
    );
    const orders = serviceRequests.map((o) =>
      completed.has(o.id ?? '') ? { ...o, status: 'completed' as const } : o,
    );
    await store.upsertCopies(tx, [patient, ...orders]);
    const imaging = orders.filter(isImagingOrder).map((o) => o.id ?? '');
    if (imaging.length === 0) return;
    const taken = await tx.query<{ accession_number: string; service_request_id: string }>(
      `INSERT INTO pacs_imaging_order (accession_number, service_request_id, patient_id, study_instance_uid)
       SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[])
       ON CONFLICT DO NOTHING
       RETURNING accession_number, service_request_id`,
      [
        imaging.map(accessionNumberOf),
        imaging,
        imaging.map(() => patient.id),
        imaging.map(studyInstanceUidOf),
      ],
    );
    if (taken.length === 0) return;
    await outbox.append(
      tx,
      taken.map((row) => ({
        exchange: WORKLIST_EXCHANGE,
        routingKey: 'requested',
        type: WORKLIST_REQUESTED_TYPE,
        // Not `ServiceRequest/<id>`: that aggregate is the order's result event's (the EMR's inbox expects it
        // to start at sequence 1).
        aggregateId: `WorklistEntry/${row.service_request_id}`,
        gtid,
        payload: {
          serviceRequestId: row.service_request_id,
          accessionNumber: row.accession_number,
        } satisfies WorklistRequested,
      })),
    );
  };
}
