import { DomainException, ErrorCodeMappings } from '@hospital/platform';

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
 * Each code's transports: malformed input is a 400, a drug the formulary does not hold a 422 (a reference
 * to nothing the pharmacy holds). None can ever apply from a message, so each is dead-lettered.
 */
export const DISPENSING_ERRORS: ErrorCodeMappings<DispensingErrorCode> = {
  [DispensingErrorCode.MedicationMissing]: { status: 400, issue: 'invalid', message: 'dead-letter' },
  [DispensingErrorCode.UnknownMedication]: { status: 422, issue: 'not-found', message: 'dead-letter' },
  [DispensingErrorCode.InvalidQuantity]: { status: 400, issue: 'invalid', message: 'dead-letter' },
  [DispensingErrorCode.InvalidLocation]: { status: 400, issue: 'invalid', message: 'dead-letter' },
  [DispensingErrorCode.UnsupportedStatus]: { status: 400, issue: 'invalid', message: 'dead-letter' },
};

/**
 * A dispense refused by the pharmacy's rules. Messages name elements and codes (never patient data) and
 * become the OperationOutcome's diagnostics.
 */
export class DispensingException extends DomainException<DispensingErrorCode> {
  constructor(code: DispensingErrorCode, message: string, expression: readonly string[] = []) {
    super('dispensing', code, DISPENSING_ERRORS, message, { expression });
  }
}
