import { DomainException, ErrorCodeMappings } from '@hospital/platform';

/** Every way the EMR refuses a completed consult's findings (its branch of the consult completion). */
export enum ConsultsErrorCode {
  /** The findings are about a patient the EMR does not hold: a chart entry needs the patient's chart. */
  UnknownPatient = 'unknown-patient',
}

/** Each code's transports: the coordinator's payload is at fault, and sending it again changes nothing. */
export const CONSULTS_ERRORS: ErrorCodeMappings<ConsultsErrorCode> = {
  [ConsultsErrorCode.UnknownPatient]: { status: 422, issue: 'not-found', message: 'dead-letter' },
};

/** Consult findings the EMR will not keep; messages name resource types and ids only. */
export class ConsultsException extends DomainException<ConsultsErrorCode> {
  constructor(code: ConsultsErrorCode, message: string, expression: readonly string[] = []) {
    super('consults', code, CONSULTS_ERRORS, message, { expression });
  }
}
