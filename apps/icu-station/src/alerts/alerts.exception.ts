import { DomainException, ErrorCodeMappings } from '@hospital/platform';

/** Every way the station refuses an alert. */
export enum StationErrorCode {
  /** No `Idempotency-Key` header, or a malformed one. */
  MissingIdempotencyKey = 'missing-idempotency-key',
  /** The key was already used for another alert transition. */
  KeyReused = 'idempotency-key-reused',
  /** The monitor could not be asked for missed alerts (down, or an answer out of contract). */
  ReconciliationFailed = 'reconciliation-failed',
}

export const STATION_ERRORS: ErrorCodeMappings<StationErrorCode> = {
  [StationErrorCode.MissingIdempotencyKey]: { status: 400, issue: 'required', message: 'dead-letter' },
  [StationErrorCode.KeyReused]: { status: 409, issue: 'conflict', message: 'dead-letter' },
  [StationErrorCode.ReconciliationFailed]: { status: 502, issue: 'transient', message: 'retry' },
};

/** A refusal of the station; messages name keys and codes, never the patient. */
export class StationException extends DomainException<StationErrorCode> {
  constructor(code: StationErrorCode, message: string, expression: readonly string[] = []) {
    super('station', code, STATION_ERRORS, message, { expression });
  }
}
