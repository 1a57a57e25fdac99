import { Inject, Injectable } from '@nestjs/common';
import type { MedicationDispense, MedicationRequest, Resource } from '@medplum/fhirtypes';
import { FhirResourceStore, type Stored } from '@hospital/fhir';
import { Database, type Session } from '@hospital/platform';
import { Outbox, type NewOutboxEvent } from '@hospital/transactions';
import { FormularyService } from '../formulary/formulary.service';
import { DEFAULT_LOCATION_ID, dispenseLineOf } from './dispense-rules';
import { medicationDispensedEvent, type PlannedDispense } from './dispense-event';
import { DispensingErrorCode, DispensingException } from './dispensing.exception';

/** A resource of a write, with the id it will be stored under (transaction entries have theirs already). */
export interface PharmacyWrite {
  resource: MedicationDispense | MedicationRequest;
  id?: string;
  /** FHIRPath prefix of the resource in the request, for error expressions (`Bundle.entry[2].resource`). */
  path?: string;
}

const PRESCRIPTION = ['MedicationRequest'];

/**
 * Records dispenses: the pharmacy's rules and the formulary are checked before anything is written; then,
 * in one local transaction, each MedicationDispense (resource, history, search index) and its
 * `MedicationDispensed` event in the outbox; the relays are woken after the commit.
 */
@Injectable()
export class DispenseService {
  constructor(
    @Inject(Database) private readonly db: Database,
    @Inject(FhirResourceStore) private readonly store: FhirResourceStore,
    @Inject(FormularyService) private readonly formulary: FormularyService,
    @Inject(Outbox) private readonly outbox: Outbox,
  ) {}

  /** Resolves a dispense's drug, quantity and location; throws DispensingException, writes nothing. */
  async plan(dispense: MedicationDispense, path?: string): Promise<PlannedDispense> {
    try {
      const line = dispenseLineOf(dispense);
      const entry = await this.formulary.find(line.medication);
      if (entry === undefined) {
        throw new DispensingException(
          DispensingErrorCode.UnknownMedication,
          line.medication.kind === 'code'
            ? `RxNorm ${line.medication.code} is not in the formulary`
            : `Medication/${line.medication.id} is not in the formulary`,
          [
            line.medication.kind === 'code'
              ? 'MedicationDispense.medicationCodeableConcept'
              : 'MedicationDispense.medicationReference',
          ],
        );
      }
      return { medicationCode: entry.code, quantity: line.quantity, locationId: line.locationId };
    } catch (error) {
      throw path === undefined ? error : relocate(error, path);
    }
  }

  /**
   * Stores the resources in one local transaction, in order, with one outbox event per dispense. Returns
   * what was stored, in the same order.
   */
  async record(writes: readonly PharmacyWrite[], gtid?: string): Promise<Stored<Resource>[]> {
    const planned = await Promise.all(
      writes.map(async (w) =>
        w.resource.resourceType === 'MedicationDispense' ? this.plan(w.resource, w.path) : undefined,
      ),
    );
    // Prescriptions first, so a dispense may name one created in the same Bundle.
    const order = writes
      .map((_, i) => i)
      .sort((a, b) => Number(planned[a] !== undefined) - Number(planned[b] !== undefined));
    const stored = await this.db.transaction(async (tx) => {
      const results = new Array<Stored<Resource>>(writes.length);
      const events: NewOutboxEvent[] = [];
      for (const i of order) {
        const { resource, id } = writes[i];
        const plan = planned[i];
        if (resource.resourceType === 'MedicationDispense' && plan !== undefined) {
          const dispense = await this.storeDispense(tx, resource, id);
          events.push(medicationDispensedEvent(dispense, plan, gtid));
          results[i] = dispense;
        } else {
          results[i] = await this.store.create(tx, resource, id === undefined ? {} : { id });
        }
      }
      if (events.length > 0) await this.outbox.append(tx, events);
      return results;
    });
    if (planned.some((p) => p !== undefined)) this.outbox.notify();
    return stored;
  }

  private async storeDispense(
    tx: Session,
    dispense: MedicationDispense,
    id: string | undefined,
  ): Promise<Stored<MedicationDispense>> {
    if (dispense.authorizingPrescription !== undefined) {
      await this.store.assertReferencesExist(tx, dispense, PRESCRIPTION);
    }
    // The location the units came from is part of the record, also when it was the default.
    const resource: MedicationDispense =
      dispense.location === undefined
        ? { ...dispense, location: { reference: `Location/${DEFAULT_LOCATION_ID}` } }
        : dispense;
    return this.store.create(tx, resource, id === undefined ? {} : { id });
  }
}

/** A rule's error with its expressions moved under the resource's place in a Bundle. */
function relocate(error: unknown, path: string): unknown {
  if (!(error instanceof DispensingException)) return error;
  const expression = error.expression.map((e) => e.replace(/^MedicationDispense/, path));
  return new DispensingException(error.code, error.message, expression);
}
