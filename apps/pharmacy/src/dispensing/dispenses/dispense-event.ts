import type { MedicationDispense } from '@medplum/fhirtypes';
import type { Stored } from '@hospital/fhir';
import type { NewOutboxEvent } from '@hospital/transactions';
import {
  MedicationDispensedPayload,
  PHARMACY_EXCHANGE,
  PharmacyEvent,
  stockAggregate,
} from '../../contracts/pharmacy-events';

/** A dispense the rules and the formulary accepted: which drug, how many units, from where. */
export interface PlannedDispense {
  medicationCode: string;
  quantity: number;
  locationId: string;
}

/** When the units left the shelf: `whenHandedOver` if given, else the time the dispense was recorded. */
export function dispensedAt(dispense: Stored<MedicationDispense>): string {
  const handedOver = dispense.whenHandedOver === undefined ? NaN : Date.parse(dispense.whenHandedOver);
  return Number.isNaN(handedOver) ? dispense.meta.lastUpdated : new Date(handedOver).toISOString();
}

/** The `MedicationDispensed` event of a stored dispense, ordered per drug and location. */
export function medicationDispensedEvent(
  dispense: Stored<MedicationDispense>,
  planned: PlannedDispense,
): NewOutboxEvent {
  const payload: MedicationDispensedPayload = {
    dispenseId: dispense.id,
    medicationCode: planned.medicationCode,
    locationId: planned.locationId,
    quantity: planned.quantity,
    dispensedAt: dispensedAt(dispense),
  };
  const event: NewOutboxEvent = {
    exchange: PHARMACY_EXCHANGE,
    routingKey: PharmacyEvent.MedicationDispensed.routingKey,
    type: PharmacyEvent.MedicationDispensed.type,
    aggregateId: stockAggregate(planned.medicationCode, planned.locationId),
    payload,
  };
  return event;
}
