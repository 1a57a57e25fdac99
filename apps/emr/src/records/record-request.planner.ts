import { randomUUID } from 'node:crypto';
import { Inject, Injectable } from '@nestjs/common';
import type { Encounter, Patient, Reference, Resource, ServiceRequest } from '@medplum/fhirtypes';
import {
  FhirErrorCode,
  FhirException,
  FhirResourceStore,
  ParsedTransaction,
  TransactionEntry,
  patientIdOf,
} from '@hospital/fhir';
import { Database } from '@hospital/platform';
import { newGtid } from '@hospital/transactions';
import { orderDestination } from './order-routing';
import { PatientChange, RecordUpdate } from './record-update';

/** Resource types a record-update transaction may carry. */
export const RECORD_TYPES = ['Patient', 'Encounter', 'ServiceRequest'] as const;

const invalid = (message: string, expression: string) =>
  new FhirException(FhirErrorCode.Invalid, message, { expression: [expression] });

/**
 * Turns what a clinician's system sent — a transaction Bundle, a Patient write, a new order — into a
 * validated RecordUpdate with every id assigned, checking everything that can be checked before any
 * system is asked to prepare: FHIR R4 validity, one patient per update, references that resolve, orders
 * that route to a department, and a fresh `If-Match`.
 */
@Injectable()
export class RecordRequestPlanner {
  constructor(
    @Inject(Database) private readonly db: Database,
    @Inject(FhirResourceStore) private readonly store: FhirResourceStore,
  ) {}

  /** A transaction Bundle, already parsed by the FHIR module (validated, ids assigned, references rewritten). */
  async fromTransaction({ entries }: ParsedTransaction, correlationId?: string): Promise<RecordUpdate> {
    const unsupported = entries.find((e) => !(RECORD_TYPES as readonly string[]).includes(e.resourceType));
    if (unsupported) {
      throw invalid(
        `A record update carries Patient, Encounter and ServiceRequest, not ${unsupported.resourceType}`,
        'Bundle.entry.resource',
      );
    }
    const patients = entries.filter((e) => e.resourceType === 'Patient');
    if (patients.length > 1) throw invalid('A record update carries at most one Patient', 'Bundle.entry');
    const encounters = entries.filter((e) => e.resourceType === 'Encounter');
    const orders = entries.filter((e) => e.resourceType === 'ServiceRequest');
    for (const entry of [...encounters, ...orders]) {
      if (entry.method !== 'POST')
        throw invalid(
          `${entry.resourceType} entries must be POST (new records)`,
          'Bundle.entry.request.method',
        );
    }
    const patient = patients[0]
      ? await this.patientChange(patients[0])
      : await this.referencedPatient([...encounters, ...orders].map((e) => e.resource));
    return this.assemble(
      patient,
      encounters.map((e) => e.resource as Encounter),
      orders.map((e) => e.resource as ServiceRequest),
      correlationId,
    );
  }

  /** A new patient (validated by the FHIR module): its demographics reach the LIS and the PACS too. */
  async fromPatientCreate(resource: Patient, correlationId?: string): Promise<RecordUpdate> {
    return this.assemble(
      { mode: 'create', resource: { ...resource, id: randomUUID() } },
      [],
      [],
      correlationId,
    );
  }

  /** A demographic update (validated, `id` equal to the URL's). */
  async fromPatientUpdate(
    resource: Patient & { id: string },
    ifMatch: string | undefined,
    correlationId?: string,
  ): Promise<RecordUpdate> {
    return this.assemble(
      await this.patientChange({ method: 'PUT', resource, ifMatch }),
      [],
      [],
      correlationId,
    );
  }

  /** A new order for an existing patient, routed to its department. */
  async fromOrderCreate(resource: ServiceRequest, correlationId?: string): Promise<RecordUpdate> {
    const order = { ...resource, id: randomUUID() };
    return this.assemble(await this.referencedPatient([order]), [], [order], correlationId);
  }

  private async patientChange(
    entry: Pick<TransactionEntry, 'method' | 'resource' | 'ifMatch'>,
  ): Promise<PatientChange> {
    const resource = entry.resource as Patient & { id: string };
    if (entry.method === 'POST') return { mode: 'create', resource };
    if (entry.ifMatch !== undefined) {
      // Checked again under lock when the EMR writes; checking now spares the departments a doomed prepare.
      const current = await this.store.read(this.db, 'Patient', resource.id);
      if (current.meta.versionId !== entry.ifMatch) {
        throw new FhirException(
          FhirErrorCode.PreconditionFailed,
          `Patient/${resource.id} is not at version ${entry.ifMatch}`,
        );
      }
    }
    return { mode: 'update', resource, ifMatch: entry.ifMatch };
  }

  /** With no Patient in the update, every record must name the same existing patient. */
  private async referencedPatient(records: Resource[]): Promise<PatientChange> {
    const ids = new Set(records.map((r) => patientIdOf((r as { subject?: Reference }).subject)));
    const [id] = [...ids];
    if (ids.size !== 1 || id === undefined) {
      throw invalid('Every record must have subject Patient/<id> of one patient', 'subject');
    }
    if (!(await this.store.exists(this.db, 'Patient', id))) {
      throw new FhirException(FhirErrorCode.ReferenceNotFound, 'The subject patient does not exist', {
        expression: ['subject'],
      });
    }
    return { mode: 'reference', resource: await this.store.read<Patient>(this.db, 'Patient', id) };
  }

  private async assemble(
    patient: PatientChange,
    encounters: Encounter[],
    orders: ServiceRequest[],
    correlationId: string | undefined,
  ): Promise<RecordUpdate> {
    const patientId = patient.resource.id;
    const encounterIds = new Set(encounters.map((e) => e.id));
    for (const record of [...encounters, ...orders]) {
      if (patientIdOf(record.subject) !== patientId) {
        throw invalid(
          `${record.resourceType}.subject must be the update's patient`,
          `${record.resourceType}.subject`,
        );
      }
    }
    for (const order of orders) {
      if (!orderDestination(order)) {
        throw invalid(
          'ServiceRequest.category must be laboratory (SNOMED 108252007) or imaging (SNOMED 363679005)',
          'ServiceRequest.category',
        );
      }
      const encounterRef = /^Encounter\/(.+)$/.exec(order.encounter?.reference ?? '')?.[1];
      if (order.encounter && !encounterRef)
        throw invalid('ServiceRequest.encounter must be Encounter/<id>', 'ServiceRequest.encounter');
      if (
        encounterRef &&
        !encounterIds.has(encounterRef) &&
        !(await this.store.exists(this.db, 'Encounter', encounterRef))
      ) {
        throw new FhirException(
          FhirErrorCode.ReferenceNotFound,
          'The order names an encounter that does not exist',
          {
            expression: ['ServiceRequest.encounter'],
          },
        );
      }
    }
    // The gtid is the EMR's own, whatever the client sent: its correlation id names no transaction.
    return { gtid: newGtid(), correlationId, patient, encounters, orders };
  }
}
