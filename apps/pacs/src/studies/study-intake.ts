import type { Endpoint, ImagingStudy, ServiceRequest } from '@medplum/fhirtypes';
import {
  FhirResourceStore,
  FhirValidator,
  ORDER_RESULT_TYPE,
  ORDER_RESULTS_EXCHANGE,
  orderResultAggregate,
  type OrderResultPayload,
} from '@hospital/fhir';
import type { Database, Session } from '@hospital/platform';
import type { Outbox } from '@hospital/transactions';
import { dicomWebEndpoint, imagingStudyOf, studyKeys } from './imaging-study-mapping';
import type { DicomJson } from './orthanc-client';

/** What became of one stable study reported by the archive. */
export type StudyOutcome =
  | { kind: 'applied'; accessionNumber: string; imagingStudyId: string }
  /** Applied before (a re-reported study, another replica): nothing changed. */
  | { kind: 'already-applied'; accessionNumber: string }
  /** No imaging order under its accession number (or another patient's): counted, nothing else. */
  | { kind: 'skipped'; reason: 'unknown-accession' | 'other-patient' | 'gone' }
  /** The cursor had already passed this change (another replica took it). */
  | { kind: 'behind' };

interface OrderRow {
  service_request_id: string;
  patient_id: string;
  completed_at: Date | null;
}

/** A stable study as read over QIDO-RS, with the change that reported it. */
export interface ReportedStudy {
  seq: number;
  /** Undefined when the archive no longer holds it. */
  study?: DicomJson;
  series: DicomJson[];
}

/**
 * Applies one study the archive reported, in ONE local transaction with the change-feed cursor: the
 * ImagingStudy (id from the StudyInstanceUID) and the archive's Endpoint, the PACS's copy of the order set
 * to completed, one order-result event in the outbox, and the cursor moved past the change. The cursor row
 * is locked first, so replicas take changes one at a time; the event is appended only when this
 * transaction is the one that completed the order, so a re-reported study changes nothing.
 */
export class StudyIntake {
  constructor(
    private readonly db: Database,
    private readonly store: FhirResourceStore,
    private readonly validator: FhirValidator,
    private readonly outbox: Outbox,
    private readonly dicomWebBase: string,
  ) {}

  /** The cursor: the last change of the archive's feed the PACS has taken into account. */
  async cursor(): Promise<number> {
    const [row] = await this.db.query<{ last_change: string }>(
      `SELECT last_change FROM pacs_study_intake WHERE id = 1`,
    );
    return Number(row?.last_change ?? 0);
  }

  /** Moves the cursor to `seq` (forward only) past changes that are not studies. */
  async advance(seq: number): Promise<void> {
    await this.db.query(
      `UPDATE pacs_study_intake SET last_change = $1, updated_at = now() WHERE id = 1 AND last_change < $1`,
      [seq],
    );
  }

  /** Puts the cursor back to `seq` (the archive's feed restarted from an empty database). */
  async rewind(seq: number): Promise<void> {
    await this.db.query(`UPDATE pacs_study_intake SET last_change = $1, updated_at = now() WHERE id = 1`, [
      seq,
    ]);
  }

  async apply(reported: ReportedStudy): Promise<StudyOutcome> {
    return this.db.transaction(async (tx) => {
      const [cursor] = await tx.query<{ last_change: string }>(
        `SELECT last_change FROM pacs_study_intake WHERE id = 1 FOR UPDATE`,
      );
      if (Number(cursor.last_change) >= reported.seq) return { kind: 'behind' };
      const outcome = await this.applyStudy(tx, reported);
      await tx.query(
        `UPDATE pacs_study_intake
            SET last_change = $1, updated_at = now(),
                studies_applied = studies_applied + $2, studies_skipped = studies_skipped + $3
          WHERE id = 1`,
        [reported.seq, outcome.kind === 'applied' ? 1 : 0, outcome.kind === 'skipped' ? 1 : 0],
      );
      return outcome;
    });
  }

  private async applyStudy(tx: Session, { study, series }: ReportedStudy): Promise<StudyOutcome> {
    if (study === undefined) return { kind: 'skipped', reason: 'gone' };
    const { accessionNumber, patientId } = studyKeys(study);
    const [order] = accessionNumber
      ? await tx.query<OrderRow>(
          `SELECT service_request_id, patient_id, completed_at
             FROM pacs_imaging_order WHERE accession_number = $1 FOR UPDATE`,
          [accessionNumber],
        )
      : [];
    if (order === undefined || accessionNumber === undefined) {
      return { kind: 'skipped', reason: 'unknown-accession' };
    }
    if (patientId !== undefined && patientId !== order.patient_id) {
      return { kind: 'skipped', reason: 'other-patient' };
    }
    const endpoint = this.validator.validate<Endpoint>(dicomWebEndpoint(this.dicomWebBase), 'Endpoint');
    const imagingStudy = this.validator.validate<ImagingStudy>(
      imagingStudyOf(study, series, {
        serviceRequestId: order.service_request_id,
        patientId: order.patient_id,
        endpoint,
      }),
      'ImagingStudy',
    );
    await this.store.upsertCopies(tx, [endpoint, imagingStudy]);
    if (order.completed_at !== null) return { kind: 'already-applied', accessionNumber };
    const serviceRequest = await this.store.read<ServiceRequest>(
      tx,
      'ServiceRequest',
      order.service_request_id,
    );
    await this.store.upsertCopy(tx, { ...serviceRequest, status: 'completed' });
    await tx.query(
      `UPDATE pacs_imaging_order SET completed_at = now(), imaging_study_id = $2 WHERE accession_number = $1`,
      [accessionNumber, imagingStudy.id],
    );
    const payload: OrderResultPayload = {
      department: 'pacs',
      serviceRequestId: order.service_request_id,
      patientId: order.patient_id,
      orderStatus: 'completed',
      resources: [imagingStudy],
      endpoints: [endpoint],
    };
    await this.outbox.append(tx, [
      {
        exchange: ORDER_RESULTS_EXCHANGE,
        routingKey: 'pacs',
        type: ORDER_RESULT_TYPE,
        aggregateId: orderResultAggregate(order.service_request_id),
        payload,
      },
    ]);
    return { kind: 'applied', accessionNumber, imagingStudyId: imagingStudy.id ?? '' };
  }

  /**
   * Open orders whose worklist entry is older than `ageMs`, oldest first: those whose study may be in the
   * archive without the feed ever announcing it (stored just before the archive restarted).
   */
  async openOrders(
    ageMs: number,
    limit: number,
  ): Promise<{ accessionNumber: string; studyInstanceUid: string }[]> {
    const rows = await this.db.query<{ accession_number: string; study_instance_uid: string }>(
      `SELECT accession_number, study_instance_uid FROM pacs_imaging_order
        WHERE completed_at IS NULL AND created_at < now() - make_interval(secs => $1::double precision / 1000)
        ORDER BY created_at LIMIT $2`,
      [ageMs, limit],
    );
    return rows.map((r) => ({ accessionNumber: r.accession_number, studyInstanceUid: r.study_instance_uid }));
  }

  /**
   * Applies a study found in the archive for an open order, outside the feed: the same transaction as
   * `apply` without the cursor (the order's row lock and its completion decide, so the feed reporting the
   * same study later changes nothing).
   */
  async applyFound(found: Omit<ReportedStudy, 'seq'>): Promise<StudyOutcome> {
    return this.db.transaction(async (tx) => {
      const outcome = await this.applyStudy(tx, { ...found, seq: 0 });
      if (outcome.kind === 'applied')
        await tx.query(`UPDATE pacs_study_intake SET studies_applied = studies_applied + 1 WHERE id = 1`);
      return outcome;
    });
  }

  /** Of these accession numbers, the ones whose order is completed (their worklist entries can go). */
  async completedAmong(accessionNumbers: readonly string[]): Promise<string[]> {
    if (accessionNumbers.length === 0) return [];
    const rows = await this.db.query<{ accession_number: string }>(
      `SELECT accession_number FROM pacs_imaging_order
        WHERE accession_number = ANY($1::text[]) AND completed_at IS NOT NULL`,
      [accessionNumbers],
    );
    return rows.map((r) => r.accession_number);
  }

  /** The intake's counters, for operators. */
  async status(): Promise<{ lastChange: number; studiesApplied: number; studiesSkipped: number }> {
    const [row] = await this.db.query<Record<string, string>>(
      `SELECT last_change, studies_applied, studies_skipped FROM pacs_study_intake WHERE id = 1`,
    );
    return {
      lastChange: Number(row.last_change),
      studiesApplied: Number(row.studies_applied),
      studiesSkipped: Number(row.studies_skipped),
    };
  }
}
