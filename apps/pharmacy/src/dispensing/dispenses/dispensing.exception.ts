import { FhirErrorCode, FhirException } from '@hospital/fhir';

/** Every way the dispensing rules refuse a request. */
export enum DispensingErrorCode {
  /** The dispense names no medication, or names it in a way the pharmacy cannot resolve (no RxNorm coding). */
  MedicationMissing = 'medication-missing',
  /** The medication is not in the formulary (or is inactive there). */
  UnknownMedication = 'unknown-medication',
  /** The quantity is missing, not a whole number of dose units, not positive or above the limit. */
  InvalidQuantity = 'invalid-quantity',
  /** `MedicationDispense.location` is not a `Location/<id>` reference with a valid stock location id. */
  InvalidLocation = 'invalid-location',
  /** Only completed dispenses move stock; other statuses are not recorded here. */
  UnsupportedStatus = 'unsupported-status',
}

/**
 * A dispense refused by the pharmacy's rules. Messages name elements and codes (never patient data) and
 * become the OperationOutcome's diagnostics.
 */
export class DispensingException extends Error {
  constructor(
    readonly code: DispensingErrorCode,
    message: string,
    readonly expression: readonly string[] = [],
  ) {
    super(message);
    this.name = 'DispensingException';
  }
}

/** The FHIR transport's mapping: malformed input is a 400, a drug the formulary does not hold a 422. */
export function dispensingFhirErrorCode(code: DispensingErrorCode): FhirErrorCode {
  switch (code) {
    case DispensingErrorCode.MedicationMissing:
    case DispensingErrorCode.InvalidQuantity:
    case DispensingErrorCode.InvalidLocation:
    case DispensingErrorCode.UnsupportedStatus:
      return FhirErrorCode.Invalid;
    case DispensingErrorCode.UnknownMedication:
      return FhirErrorCode.ReferenceNotFound;
  }
}

/** `error` as the FhirException the global filter turns into an OperationOutcome; other errors unchanged. */
export function toFhirError(error: unknown): unknown {
  if (!(error instanceof DispensingException)) return error;
  return new FhirException(dispensingFhirErrorCode(error.code), error.message, {
    expression: [...error.expression],
  });
}
