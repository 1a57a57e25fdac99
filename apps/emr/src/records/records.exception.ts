import { DomainException, ErrorCodeMappings } from '@hospital/platform';

/** Every way a record update (the EMR's two-phase commit across LIS and PACS) fails. */
export enum RecordsErrorCode {
  /** An order's category routes it to no department (neither laboratory nor imaging). */
  UnroutableOrder = 'unroutable-order',
  /** The patient changed after the update read it: the departments would get older demographics. */
  PatientChanged = 'patient-changed',
  /** The transaction aborted: nothing was committed in any system; the client may send it again. */
  NotCommitted = 'not-committed',
  /** The decision is not known yet (the coordinator could not log it); recovery settles it. */
  OutcomeUnknown = 'outcome-unknown',
}

/** Each code's transports: input and conflicts are the client's to fix, the rest transient. */
export const RECORDS_ERRORS: ErrorCodeMappings<RecordsErrorCode> = {
  [RecordsErrorCode.UnroutableOrder]: { status: 400, issue: 'invalid', message: 'dead-letter' },
  [RecordsErrorCode.PatientChanged]: { status: 409, issue: 'conflict', message: 'dead-letter' },
  [RecordsErrorCode.NotCommitted]: { status: 503, issue: 'transient', message: 'retry' },
  [RecordsErrorCode.OutcomeUnknown]: { status: 503, issue: 'transient', message: 'retry' },
};

/** A record update refused or not committed; messages name gtids, resource ids and elements only. */
export class RecordsException extends DomainException<RecordsErrorCode> {
  constructor(code: RecordsErrorCode, message: string, expression: readonly string[] = []) {
    super('records', code, RECORDS_ERRORS, message, { expression });
  }
}
