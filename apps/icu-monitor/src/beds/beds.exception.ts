import { DomainException, ErrorCodeMappings } from '@hospital/platform';

/** Every way the bed API refuses a request. */
export enum BedErrorCode {
  /** The bed id is not one of the unit's bed places. */
  UnknownBed = 'unknown-bed',
  /** The bed id is malformed (letters, digits and dashes only). */
  InvalidBedId = 'invalid-bed-id',
  /** Another patient is admitted to the bed: discharge them first. */
  BedOccupied = 'bed-occupied',
  /** The patient is admitted to another bed: discharge them there first. */
  PatientInAnotherBed = 'patient-in-another-bed',
}

/** Each code's transports: none can apply later, so a message carrying one is dead-lettered. */
export const BED_ERRORS: ErrorCodeMappings<BedErrorCode> = {
  [BedErrorCode.UnknownBed]: { status: 404, issue: 'not-found', message: 'dead-letter' },
  [BedErrorCode.InvalidBedId]: { status: 400, issue: 'invalid', message: 'dead-letter' },
  [BedErrorCode.BedOccupied]: { status: 409, issue: 'conflict', message: 'dead-letter' },
  [BedErrorCode.PatientInAnotherBed]: { status: 409, issue: 'conflict', message: 'dead-letter' },
};

/** A refusal of the bed API; messages name bed ids and codes, never the patient. */
export class BedException extends DomainException<BedErrorCode> {
  constructor(code: BedErrorCode, message: string, expression: readonly string[] = []) {
    super('beds', code, BED_ERRORS, message, { expression });
  }
}
