import { DomainException, ErrorCodeMappings } from '@hospital/platform';

/** Every way the monitor refuses a vital sign. */
export enum VitalErrorCode {
  /** Only measurements are scored: status final, amended, corrected or preliminary. */
  UnsupportedStatus = 'unsupported-status',
  /** The Observation is not in the vital-signs category. */
  NotVitalSigns = 'not-vital-signs',
  /** No LOINC coding the monitor scores (or codings of two different parameters). */
  UnknownCode = 'unknown-code',
  /** `valueQuantity` is not in the UCUM unit of its code. */
  WrongUnit = 'wrong-unit',
  /** No value to score (a missing value, a data-absent reason, a panel without its systolic component). */
  MissingValue = 'missing-value',
  /** A value no patient can have (heart rate −5 or 400, SpO2 above 100 %, 60 °C), or an unknown ACVPU code. */
  ImpossibleValue = 'impossible-value',
  /** `subject` must reference the Patient: `Patient/<id>`. */
  SubjectRequired = 'subject-required',
  /** `device` must reference the bed: `Device/<bedId>`. */
  BedRequired = 'bed-required',
  /** `effectiveDateTime` with a time of day is required (periods and bare dates are not scored). */
  EffectiveRequired = 'effective-required',
  /** `effectiveDateTime` lies further in the future than the clocks' allowed drift. */
  EffectiveInFuture = 'effective-in-future',
  /** The bed named by `device` is not one of the unit's. */
  UnknownBed = 'unknown-bed',
  /** The bed is empty, or another patient than `subject` is admitted to it. */
  PatientNotInBed = 'patient-not-in-bed',
}

/**
 * Each code's transports: malformed vitals are a 400, vitals naming a bed the unit does not have or a
 * patient who is not in it a 422 (valid FHIR the unit's state refuses). None can apply later, so a message
 * carrying one (the MQTT feed, later) is dead-lettered with the code as its reason.
 */
export const VITAL_ERRORS: ErrorCodeMappings<VitalErrorCode> = {
  [VitalErrorCode.UnsupportedStatus]: { status: 400, issue: 'invalid', message: 'dead-letter' },
  [VitalErrorCode.NotVitalSigns]: { status: 400, issue: 'invalid', message: 'dead-letter' },
  [VitalErrorCode.UnknownCode]: { status: 400, issue: 'code-invalid', message: 'dead-letter' },
  [VitalErrorCode.WrongUnit]: { status: 400, issue: 'invalid', message: 'dead-letter' },
  [VitalErrorCode.MissingValue]: { status: 400, issue: 'required', message: 'dead-letter' },
  [VitalErrorCode.ImpossibleValue]: { status: 400, issue: 'invalid', message: 'dead-letter' },
  [VitalErrorCode.SubjectRequired]: { status: 400, issue: 'required', message: 'dead-letter' },
  [VitalErrorCode.BedRequired]: { status: 400, issue: 'required', message: 'dead-letter' },
  [VitalErrorCode.EffectiveRequired]: { status: 400, issue: 'required', message: 'dead-letter' },
  [VitalErrorCode.EffectiveInFuture]: { status: 400, issue: 'invalid', message: 'dead-letter' },
  [VitalErrorCode.UnknownBed]: { status: 422, issue: 'not-found', message: 'dead-letter' },
  [VitalErrorCode.PatientNotInBed]: { status: 422, issue: 'business-rule', message: 'dead-letter' },
};

/** A vital refused; messages name elements, codes and bed ids, never values or the patient. */
export class VitalException extends DomainException<VitalErrorCode> {
  constructor(code: VitalErrorCode, message: string, expression: readonly string[] = []) {
    super('vitals', code, VITAL_ERRORS, message, { expression });
  }
}
