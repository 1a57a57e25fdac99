import type { MedicationDispense } from '@medplum/fhirtypes';
import { MAX_UNITS } from '../../contracts/pharmacy-events';
import { RXNORM_SYSTEM } from '../fhir-resources';
import { DispensingErrorCode, DispensingException } from './dispensing.exception';

/** Where a dispense takes its units from when it names no location. */
export const DEFAULT_LOCATION_ID = 'main-pharmacy';

/** Stock location ids, as the event contract accepts them (`main-pharmacy`, `ward-3a`). */
const LOCATION_ID = /^[a-z0-9-]{1,64}$/;
/** Formulary codes, as the event contract accepts them. */
const MEDICATION_CODE = /^[A-Za-z0-9.-]{1,64}$/;
const LOCATION_REFERENCE = /^Location\/([^/]+)$/;
const MEDICATION_REFERENCE = /^Medication\/([A-Za-z0-9\-.]{1,64})$/;

/** How a dispense names its drug: by RxNorm code, or by a reference to a formulary Medication. */
export type MedicationSelector = { kind: 'code'; code: string } | { kind: 'reference'; id: string };

/** What a dispense asks of the stock, before the formulary resolves the drug. */
export interface DispenseLine {
  medication: MedicationSelector;
  quantity: number;
  locationId: string;
  /** True when the location was not given and `DEFAULT_LOCATION_ID` applies. */
  defaultedLocation: boolean;
}

/** A quantity of dose units: a whole number from 1 to MAX_UNITS. */
export function parseQuantity(value: unknown, path = 'MedicationDispense.quantity.value'): number {
  if (value === undefined || value === null) {
    throw new DispensingException(DispensingErrorCode.InvalidQuantity, 'A dispense needs a quantity', [path]);
  }
  if (typeof value !== 'number' || !Number.isInteger(value)) {
    throw new DispensingException(
      DispensingErrorCode.InvalidQuantity,
      'Quantity must be a whole number of dose units',
      [path],
    );
  }
  if (value < 1 || value > MAX_UNITS) {
    throw new DispensingException(
      DispensingErrorCode.InvalidQuantity,
      `Quantity must be between 1 and ${MAX_UNITS} dose units`,
      [path],
    );
  }
  return value;
}

/**
 * The stock location of a dispense: `Location/<id>` with a stock-location id, or the default. `at` is the
 * FHIRPath of the resource in the request (`Bundle.entry[2].resource` in a transaction).
 */
export function parseLocation(
  dispense: MedicationDispense,
  at = 'MedicationDispense',
): { locationId: string; defaulted: boolean } {
  const reference = dispense.location?.reference;
  if (dispense.location === undefined) return { locationId: DEFAULT_LOCATION_ID, defaulted: true };
  const id = reference === undefined ? undefined : LOCATION_REFERENCE.exec(reference)?.[1];
  if (id === undefined || !LOCATION_ID.test(id)) {
    throw new DispensingException(
      DispensingErrorCode.InvalidLocation,
      'location must reference Location/<id>, the id of lower-case letters, digits and dashes',
      [`${at}.location.reference`],
    );
  }
  return { locationId: id, defaulted: false };
}

/** The drug of a dispense: the RxNorm coding of `medicationCodeableConcept`, or `Medication/<id>`. */
export function parseMedication(dispense: MedicationDispense, at = 'MedicationDispense'): MedicationSelector {
  if (dispense.medicationReference !== undefined) {
    const id = MEDICATION_REFERENCE.exec(dispense.medicationReference.reference ?? '')?.[1];
    if (id === undefined) {
      throw new DispensingException(
        DispensingErrorCode.MedicationMissing,
        'medicationReference must reference Medication/<id> of the formulary',
        [`${at}.medicationReference.reference`],
      );
    }
    return { kind: 'reference', id };
  }
  const codings = dispense.medicationCodeableConcept?.coding ?? [];
  const rxnorm = codings.find((coding) => coding.system === RXNORM_SYSTEM && coding.code !== undefined);
  if (rxnorm?.code === undefined || !MEDICATION_CODE.test(rxnorm.code)) {
    throw new DispensingException(
      DispensingErrorCode.MedicationMissing,
      `medicationCodeableConcept needs a coding of ${RXNORM_SYSTEM}`,
      [`${at}.medicationCodeableConcept.coding`],
    );
  }
  return { kind: 'code', code: rxnorm.code };
}

/**
 * The stock movement a MedicationDispense asks for. The resource is already valid FHIR R4; these are the
 * pharmacy's rules: only a completed dispense moves stock, the drug is named by RxNorm code or formulary
 * reference, the quantity is a whole number of dose units within MAX_UNITS, the location is a stock location.
 * Errors name elements under `at`, the FHIRPath of the resource in the request.
 */
export function dispenseLineOf(dispense: MedicationDispense, at = 'MedicationDispense'): DispenseLine {
  if (dispense.status !== 'completed') {
    throw new DispensingException(
      DispensingErrorCode.UnsupportedStatus,
      'Only completed dispenses are recorded: status must be completed',
      [`${at}.status`],
    );
  }
  const medication = parseMedication(dispense, at);
  const quantity = parseQuantity(dispense.quantity?.value, `${at}.quantity.value`);
  const { locationId, defaulted } = parseLocation(dispense, at);
  return { medication, quantity, locationId, defaultedLocation: defaulted };
}
