import { DomainException, ErrorCodeMappings } from '@hospital/platform';

/** Every way a consult request, a virtual session or a consult completion is refused or not committed. */
export enum ConsultsErrorCode {
  /** A consult request or virtual session breaks a consult rule (requester, class, patient, basedOn). */
  InvalidConsult = 'invalid-consult',
  /** The completion's `Parameters` are missing, unknown, repeated or of the wrong type. */
  InvalidCompletion = 'invalid-completion',
  /** The consult request is not active (already completed, revoked, still a draft…): nothing to complete. */
  RequestNotActive = 'request-not-active',
  /** The stored consult request lacks what a completion needs (patient, referring site, expert). */
  RequestIncomplete = 'request-incomplete',
  /** No open virtual session of the consult request (or the one named is not one). */
  SessionNotFound = 'session-not-found',
  /** A consult record changed after the completion read it: its branch applies nothing. */
  RecordChanged = 'record-changed',
  /** The completion aborted: nothing was committed anywhere; the client may send it again. */
  NotCommitted = 'not-committed',
  /** The completion's outcome is not known yet (recovery settles it); read the request before resending. */
  OutcomeUnknown = 'outcome-unknown',
}

/** Each code's transports: input is the client's to fix, conflicts are 409, the protocol's faults 503. */
export const CONSULTS_ERRORS: ErrorCodeMappings<ConsultsErrorCode> = {
  [ConsultsErrorCode.InvalidConsult]: { status: 400, issue: 'invalid', message: 'dead-letter' },
  [ConsultsErrorCode.InvalidCompletion]: { status: 400, issue: 'invalid', message: 'dead-letter' },
  [ConsultsErrorCode.RequestNotActive]: { status: 409, issue: 'conflict', message: 'dead-letter' },
  [ConsultsErrorCode.RequestIncomplete]: { status: 422, issue: 'processing', message: 'dead-letter' },
  [ConsultsErrorCode.SessionNotFound]: { status: 422, issue: 'not-found', message: 'dead-letter' },
  [ConsultsErrorCode.RecordChanged]: { status: 409, issue: 'conflict', message: 'dead-letter' },
  [ConsultsErrorCode.NotCommitted]: { status: 409, issue: 'conflict', message: 'retry' },
  [ConsultsErrorCode.OutcomeUnknown]: { status: 503, issue: 'transient', message: 'retry' },
};

/** A consult refused or not committed; messages name resource types, ids, codes and elements only. */
export class ConsultsException extends DomainException<ConsultsErrorCode> {
  constructor(code: ConsultsErrorCode, message: string, expression: readonly string[] = []) {
    super('consults', code, CONSULTS_ERRORS, message, { expression });
  }
}
