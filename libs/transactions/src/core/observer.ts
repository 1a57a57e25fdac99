/** The transaction styles the library implements; `style` labels every metric and record. */
export type TransactionStyle =
  '2pc' | '3pc' | 'tcc' | 'saga' | 'quota-saga' | 'outbox' | 'message' | 'best-effort';

export type TransactionOutcome = 'committed' | 'aborted' | 'in-doubt';

/** Port through which protocol cores report what they do; the platform turns it into metrics and logs. */
export interface TransactionObserver {
  started(style: TransactionStyle, gtid: string): void;
  finished(style: TransactionStyle, gtid: string, outcome: TransactionOutcome, durationMs: number): void;
  /** A step that failed and will be retried (a participant that did not acknowledge, say). */
  retried(style: TransactionStyle, gtid: string, step: string, error: string): void;
  /** Work done by recovery after a crash or time-out: `action` names it (recommit, abort, resolve-in-doubt…). */
  recovered(style: TransactionStyle, gtid: string, action: string): void;
}

export const silentObserver: TransactionObserver = {
  started: () => undefined,
  finished: () => undefined,
  retried: () => undefined,
  recovered: () => undefined,
};

/** Structured logger port: fields carry ids (gtid, participant), never patient data. */
export interface ProtocolLogger {
  info(message: string, fields?: Record<string, unknown>): void;
  warn(message: string, fields?: Record<string, unknown>): void;
  error(message: string, fields?: Record<string, unknown>): void;
}

export const silentLogger: ProtocolLogger = {
  info: () => undefined,
  warn: () => undefined,
  error: () => undefined,
};

export function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
