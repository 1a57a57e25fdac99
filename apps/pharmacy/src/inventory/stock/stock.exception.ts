import { FhirErrorCode, FhirException } from '@hospital/fhir';
import { RejectedMessageError } from '@hospital/transactions';

/** Every way the inventory refuses a query or a movement. */
export enum InventoryErrorCode {
  /** No stock line for the drug (at the location asked for, or named by a movement). */
  StockNotFound = 'stock-not-found',
}

/** A refusal of the inventory; the message names codes and locations only (never patient data). */
export class InventoryException extends Error {
  constructor(
    readonly code: InventoryErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'InventoryException';
  }
}

/** The HTTP transport's mapping: an OperationOutcome, like every error of the platform. */
export function inventoryHttpError(error: unknown): unknown {
  if (!(error instanceof InventoryException)) return error;
  switch (error.code) {
    case InventoryErrorCode.StockNotFound:
      return new FhirException(FhirErrorCode.NotFound, error.message);
  }
}

/**
 * The message transport's mapping: a movement for a drug the location does not stock can never apply, so
 * it is rejected for good (dead-lettered with the reason) rather than retried.
 */
export function inventoryMessageError(error: unknown): unknown {
  if (!(error instanceof InventoryException)) return error;
  switch (error.code) {
    case InventoryErrorCode.StockNotFound:
      return new RejectedMessageError(error.message);
  }
}
