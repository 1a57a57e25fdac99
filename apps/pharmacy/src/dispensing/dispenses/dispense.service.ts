import { Inject, Injectable } from '@nestjs/common';
import type { MedicationDispense, MedicationRequest, Resource } from '@medplum/fhirtypes';
import { FhirResourceStore, type Stored } from '@hospital/fhir';
import { Database, type Session } from '@hospital/platform';
import { Coalescer, Outbox, type NewOutboxEvent } from '@hospital/transactions';
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

/** One request's writes, checked and planned, waiting for a commit. */
interface PendingRecord {
  writes: readonly PharmacyWrite[];
  planned: (PlannedDispense | undefined)[];
}

/**
 * Records dispenses: the pharmacy's rules and the formulary are checked before anything is written; then,
 * in one local transaction, each MedicationDispense (resource, history, search index) and its
 * `MedicationDispensed` event in the outbox; the relays are woken after the commit.
 *
 * Requests that arrive while earlier ones are committing share the next local transaction (group commit):
 * at a dispensing counter's peak, one commit and one outbox statement serve many dispenses. A request's
 * writes stay all-or-nothing: if a shared transaction fails, each request in it is retried on its own.
 */
@Injectable()
export class DispenseService {
  private readonly commits = new Coalescer<PendingRecord, Stored<Resource>[]>(
    (batch) => this.commitShared(batch),
    { maxBatch: 64, maxInFlight: 4 },
  );

  constructor(
    @Inject(Database) private readonly db: Database,
    @Inject(FhirResourceStore) private readonly store: FhirResourceStore,
    @Inject(FormularyService) private readonly formulary: FormularyService,
    @Inject(Outbox) private readonly outbox: Outbox,
  ) {}

  /**
   * Resolves a dispense's drug, quantity and location; throws DispensingException naming elements under
   * `path` (the resource's place in the request), writes nothing.
   */
  async plan(dispense: MedicationDispense, path = 'MedicationDispense'): Promise<PlannedDispense> {
    const line = dispenseLineOf(dispense, path);
    const entry = await this.formulary.find(line.medication);
    if (entry === undefined) {
      throw new DispensingException(
        DispensingErrorCode.UnknownMedication,
        line.medication.kind === 'code'
          ? `RxNorm ${line.medication.code} is not in the formulary`
          : `Medication/${line.medication.id} is not in the formulary`,
        [
          line.medication.kind === 'code'
            ? `${path}.medicationCodeableConcept`
            : `${path}.medicationReference`,
        ],
      );
    }
    return { medicationCode: entry.code, quantity: line.quantity, locationId: line.locationId };
  }

  /**
   * Stores the resources in one local transaction, in order, with one outbox event per dispense. Returns
   * what was stored, in the same order.
   */
  async record(writes: readonly PharmacyWrite[]): Promise<Stored<Resource>[]> {
    const planned = await Promise.all(
      writes.map(async (w) =>
        w.resource.resourceType === 'MedicationDispense' ? this.plan(w.resource, w.path) : undefined,
      ),
    );
    return this.commits.submit({ writes, planned });
  }

  /** Commits several requests in one local transaction; on failure, each again alone (its own error). */
  private async commitShared(batch: PendingRecord[]): Promise<(Stored<Resource>[] | Error)[]> {
    try {
      const results = await this.db.transaction(async (tx) => {
        const events: NewOutboxEvent[] = [];
        const stored: Stored<Resource>[][] = [];
        // Dispenses with no prescription to check, of every request, are created in one statement.
        const plain = batch.flatMap((pending) =>
          pending.writes.filter((write, i) => isPlainDispense(write, pending.planned[i])),
        );
        const created = await this.store.createMany(
          tx,
          plain.map((write) => ({ resource: withLocation(write.resource), id: write.id })),
        );
        const done = new Map<PharmacyWrite, Stored<MedicationDispense>>(
          plain.map((write, k) => [write, created[k]]),
        );
        for (const pending of batch) stored.push(await this.write(tx, pending, events, done));
        if (events.length > 0) await this.outbox.append(tx, events);
        return stored;
      });
      if (batch.some((p) => p.planned.some((d) => d !== undefined))) this.outbox.notify();
      return results;
    } catch (error) {
      if (batch.length === 1) return [error instanceof Error ? error : new Error(String(error))];
      const alone: (Stored<Resource>[] | Error)[] = [];
      for (const pending of batch) alone.push(...(await this.commitShared([pending])));
      return alone;
    }
  }

  /** One request's resources, in order (prescriptions first, so a dispense may name one of the same Bundle). */
  private async write(
    tx: Session,
    pending: PendingRecord,
    events: NewOutboxEvent[],
    /** Dispenses the shared statement already created, by the write they came from. */
    done: ReadonlyMap<PharmacyWrite, Stored<MedicationDispense>>,
  ): Promise<Stored<Resource>[]> {
    const { writes, planned } = pending;
    const order = writes
      .map((_, i) => i)
      .sort((a, b) => Number(planned[a] !== undefined) - Number(planned[b] !== undefined));
    const results = new Array<Stored<Resource>>(writes.length);
    for (const i of order) {
      const { resource, id } = writes[i];
      const plan = planned[i];
      if (resource.resourceType === 'MedicationDispense' && plan !== undefined) {
        const dispense = done.get(writes[i]) ?? (await this.storeDispense(tx, resource, id));
        events.push(medicationDispensedEvent(dispense, plan));
        results[i] = dispense;
      } else {
        results[i] = await this.store.create(tx, resource, id === undefined ? {} : { id });
      }
    }
    return results;
  }

  private async storeDispense(
    tx: Session,
    dispense: MedicationDispense,
    id: string | undefined,
  ): Promise<Stored<MedicationDispense>> {
    if (dispense.authorizingPrescription !== undefined) {
      await this.store.assertReferencesExist(tx, dispense, PRESCRIPTION);
    }
    return this.store.create(tx, withLocation(dispense), id === undefined ? {} : { id });
  }
}

/** The location the units came from is part of the record, also when it was the default. */
function withLocation(dispense: MedicationDispense): MedicationDispense {
  return dispense.location === undefined
    ? { ...dispense, location: { reference: `Location/${DEFAULT_LOCATION_ID}` } }
    : dispense;
}

/** A dispense the shared statement can create: planned, with no prescription to look up first. */
function isPlainDispense(
  write: PharmacyWrite,
  plan: PlannedDispense | undefined,
): write is PharmacyWrite & { resource: MedicationDispense } {
  return (
    plan !== undefined &&
    write.resource.resourceType === 'MedicationDispense' &&
    write.resource.authorizingPrescription === undefined
  );
}
