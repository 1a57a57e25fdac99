import { Inject, Injectable } from '@nestjs/common';
import type { Encounter, Patient, Resource, ServiceRequest } from '@medplum/fhirtypes';
import { FhirResourceStore, Stored, RecordSyncPayload } from '@hospital/fhir';
import { Session } from '@hospital/platform';
import {
  Branch,
  OutcomeUnknownError,
  TransactionAbortedError,
  TwoPhaseCoordinator,
} from '@hospital/transactions';
import { DEPARTMENTS, OrderDestination, orderDestination } from './order-routing';
import { RecordUpdate } from './record-update';
import { RecordsErrorCode, RecordsException } from './records.exception';

export interface RecordUpdateResult {
  gtid: string;
  patient: Stored<Patient>;
  /** True when this update created the patient. */
  patientCreated: boolean;
  encounters: Stored<Encounter>[];
  orders: Stored<ServiceRequest>[];
}

/**
 * Commits a record update in the EMR, the LIS and the PACS with two-phase commit: the departments
 * prepare the patient's demographics and their orders; the EMR's own writes commit with the decision.
 */
@Injectable()
export class RecordUpdateService {
  constructor(
    @Inject(FhirResourceStore) private readonly store: FhirResourceStore,
    @Inject(TwoPhaseCoordinator) private readonly coordinator: TwoPhaseCoordinator<Session>,
  ) {}

  async commit(update: RecordUpdate): Promise<RecordUpdateResult> {
    const branches = this.branches(update);
    let result: RecordUpdateResult | undefined;
    try {
      await this.coordinator.execute({
        gtid: update.gtid,
        correlationId: update.correlationId,
        branches,
        local: async (tx) => {
          result = await this.writeLocal(tx, update);
        },
      });
    } catch (error) {
      // The coordinator's outcome, told in the record update's own terms (not a transport mapping).
      if (error instanceof TransactionAbortedError) {
        throw new RecordsException(
          RecordsErrorCode.NotCommitted,
          `Record update ${update.gtid} was not committed in any system: ${error.reasons.join('; ')}`,
        );
      }
      if (error instanceof OutcomeUnknownError) {
        throw new RecordsException(
          RecordsErrorCode.OutcomeUnknown,
          `The outcome of record update ${update.gtid} is not known yet; see /api/transactions/${update.gtid}`,
        );
      }
      throw error;
    }
    if (!result) throw new Error(`record update ${update.gtid} committed without its local writes`);
    return result;
  }

  /** One branch per department that has something to apply: always when demographics changed. */
  private branches(update: RecordUpdate): Branch<RecordSyncPayload>[] {
    const routed = new Map<OrderDestination, ServiceRequest[]>(DEPARTMENTS.map((d) => [d, []]));
    for (const order of update.orders) {
      const destination = orderDestination(order);
      if (!destination) {
        throw new RecordsException(
          RecordsErrorCode.UnroutableOrder,
          'ServiceRequest.category must be laboratory (SNOMED 108252007) or imaging (SNOMED 363679005)',
          ['ServiceRequest.category'],
        );
      }
      routed.get(destination)?.push(order);
    }
    return DEPARTMENTS.filter(
      (d) => update.patient.mode !== 'reference' || (routed.get(d)?.length ?? 0) > 0,
    ).map((participant) => ({
      participant,
      payload: {
        patient: withoutMeta(update.patient.resource),
        serviceRequests: routed.get(participant) ?? [],
      },
    }));
  }

  /** The EMR's writes: a new patient goes in one statement with the encounters and orders. */
  private async writeLocal(tx: Session, update: RecordUpdate): Promise<RecordUpdateResult> {
    const { patient } = update;
    const created = [...update.encounters, ...update.orders];
    let stored: Stored<Patient>;
    let patientCreated: boolean;
    if (patient.mode === 'create') {
      const [first, ...rest] = await this.createAll(tx, [patient.resource, ...created]);
      return this.result(update, first as Stored<Patient>, true, rest);
    }
    if (patient.mode === 'update') {
      const written = await this.store.update(tx, patient.resource, { ifMatch: patient.ifMatch });
      stored = written.resource;
      patientCreated = written.created;
    } else {
      stored = await this.store.read<Patient>(tx, 'Patient', patient.resource.id ?? '');
      patientCreated = false;
      if (stored.meta.versionId !== patient.resource.meta?.versionId) {
        // The departments prepared the demographics read before the update began; a demographic update
        // that committed since would be overwritten in their copies by the older ones. Abort instead.
        throw new RecordsException(
          RecordsErrorCode.PatientChanged,
          `Patient/${stored.id} changed while the update was in progress; send it again`,
        );
      }
    }
    return this.result(update, stored, patientCreated, await this.createAll(tx, created));
  }

  private createAll(tx: Session, resources: Resource[]): Promise<Stored<Resource>[]> {
    return this.store.createMany(
      tx,
      resources.map((resource) => ({ resource, id: resource.id })),
    );
  }

  /** The result from the stored patient and the created encounters then orders, in the update's order. */
  private result(
    update: RecordUpdate,
    patient: Stored<Patient>,
    patientCreated: boolean,
    created: Stored<Resource>[],
  ): RecordUpdateResult {
    const count = update.encounters.length;
    return {
      gtid: update.gtid,
      patient,
      patientCreated,
      encounters: created.slice(0, count) as Stored<Encounter>[],
      orders: created.slice(count) as Stored<ServiceRequest>[],
    };
  }
}

/** Departments keep their own version numbering; the EMR's meta does not travel. */
function withoutMeta<T extends Resource>(resource: T): T {
  const { meta: _meta, ...rest } = resource;
  return rest as T;
}
