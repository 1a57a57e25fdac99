import type { FhirRequestSteering } from '@hospital/fhir';
import { PlanErrorCode, PlanException } from './plans.exception';

/**
 * How a plan's reservations are made, chosen per request: `saga` (each step applied at once in the
 * participants, compensated on failure), `quota-saga` (reserved in the participants' Redis quota caches,
 * applied to their databases only once the whole plan is booked) or `tcc` (held by Try, applied by Confirm).
 */
export const TRANSACTION_MODES = ['saga', 'quota-saga', 'tcc'] as const;
export type TransactionMode = (typeof TRANSACTION_MODES)[number];

/** The query parameter and the header that choose a plan's mode. */
export const MODE_PARAMETER = '_mode';
export const MODE_HEADER = 'x-transaction-mode';

export function isTransactionMode(value: string): value is TransactionMode {
  return (TRANSACTION_MODES as readonly string[]).includes(value);
}

/**
 * The mode a request asks for: `?_mode=` or the `x-transaction-mode` header (both may be given if they
 * agree), else `fallback`. An unknown mode, or two that disagree, is a 400.
 */
export function transactionModeOf(
  request: FhirRequestSteering | undefined,
  fallback: TransactionMode,
): TransactionMode {
  const asked = [request?.parameter(MODE_PARAMETER), request?.header(MODE_HEADER)].filter(
    (value): value is string => value !== undefined && value !== '',
  );
  for (const value of asked) {
    if (!isTransactionMode(value)) {
      throw new PlanException(
        PlanErrorCode.UnknownMode,
        `The transaction mode is one of ${TRANSACTION_MODES.join(', ')} (${MODE_PARAMETER} or ${MODE_HEADER})`,
        [MODE_PARAMETER],
      );
    }
  }
  if (asked.length === 2 && asked[0] !== asked[1]) {
    throw new PlanException(
      PlanErrorCode.UnknownMode,
      `${MODE_PARAMETER} and ${MODE_HEADER} name different transaction modes`,
      [MODE_PARAMETER],
    );
  }
  return (asked[0] as TransactionMode | undefined) ?? fallback;
}
