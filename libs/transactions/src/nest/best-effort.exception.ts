import { DomainException, ErrorCodeMappings } from '@hospital/platform';

/** Every way a best-effort notification request can fail. */
export enum BestEffortErrorCode {
  /** No notification has this id. */
  UnknownNotification = 'unknown-notification',
  /** A replay of a notification that is not dead-lettered (pending or delivered). */
  NotDeadLettered = 'not-dead-lettered',
  /** A reconciliation cursor this service did not hand out. */
  InvalidCursor = 'invalid-cursor',
  /** A notification for a channel this service did not configure: a fault of the calling code. */
  UnknownChannel = 'unknown-channel',
}

export const BEST_EFFORT_ERRORS: ErrorCodeMappings<BestEffortErrorCode> = {
  [BestEffortErrorCode.UnknownNotification]: { status: 404, issue: 'not-found', message: 'dead-letter' },
  [BestEffortErrorCode.NotDeadLettered]: { status: 409, issue: 'conflict', message: 'dead-letter' },
  [BestEffortErrorCode.InvalidCursor]: { status: 400, issue: 'invalid', message: 'dead-letter' },
  [BestEffortErrorCode.UnknownChannel]: { status: 500, issue: 'exception', message: 'dead-letter' },
};

/** A best-effort notification error; the message names ids, channels and fields, never payloads. */
export class BestEffortException extends DomainException<BestEffortErrorCode> {
  constructor(code: BestEffortErrorCode, message: string, expression: readonly string[] = []) {
    super('notifications', code, BEST_EFFORT_ERRORS, message, { expression });
  }
}
