import { FhirErrorCode, FhirException } from '@hospital/fhir';
import { RejectedMessageError } from '@hospital/transactions';

/** Every way a supply-chain decision can fail. Each code maps to one HTTP status and one message disposition. */
export enum SupplyChainErrorCode {
  /** A manual SupplyRequest lacks what a purchase order needs (drug code, quantity, delivery location). */
  InvalidPurchaseOrder = 'invalid-purchase-order',
  /** A reorder id is already taken by a purchase order (manual) or by a different reorder (event). */
  ReorderConflict = 'reorder-conflict',
  /** A delivery names a purchase order this service never placed. */
  UnknownPurchaseOrder = 'unknown-purchase-order',
  /** A delivery does not match its purchase order (another drug, location or quantity). */
  DeliveryMismatch = 'delivery-mismatch',
  /** A second, different delivery for a purchase order that is already completed. */
  AlreadyDelivered = 'already-delivered',
  /** The two-phase message server could not be reached; the purchase order was not placed. */
  MessageServerUnavailable = 'message-server-unavailable',
}

/** A supply-chain domain error. The message names ids and codes only, never payload values beyond them. */
export class SupplyChainError extends Error {
  constructor(
    readonly code: SupplyChainErrorCode,
    message: string,
    readonly expression?: string[],
  ) {
    super(message);
    this.name = 'SupplyChainError';
  }
}

/** HTTP (FHIR) mapping: the writer turns a domain error into an OperationOutcome with this status. */
export function toFhirException(error: SupplyChainError): FhirException {
  switch (error.code) {
    case SupplyChainErrorCode.InvalidPurchaseOrder:
      return FhirException.invalid(error.message, error.expression);
    case SupplyChainErrorCode.ReorderConflict:
    case SupplyChainErrorCode.AlreadyDelivered:
      return new FhirException(FhirErrorCode.Conflict, error.message);
    case SupplyChainErrorCode.UnknownPurchaseOrder:
      return new FhirException(FhirErrorCode.NotFound, error.message);
    case SupplyChainErrorCode.DeliveryMismatch:
      return FhirException.invalid(error.message);
    case SupplyChainErrorCode.MessageServerUnavailable:
      return new FhirException(FhirErrorCode.Unavailable, error.message);
  }
}

/**
 * Message mapping: `dead-letter` for a message that can never apply (rejected for good, with the reason),
 * `retry` for a transient failure.
 */
export function messageDisposition(error: SupplyChainError): 'dead-letter' | 'retry' {
  switch (error.code) {
    case SupplyChainErrorCode.InvalidPurchaseOrder:
    case SupplyChainErrorCode.ReorderConflict:
    case SupplyChainErrorCode.UnknownPurchaseOrder:
    case SupplyChainErrorCode.DeliveryMismatch:
    case SupplyChainErrorCode.AlreadyDelivered:
      return 'dead-letter';
    case SupplyChainErrorCode.MessageServerUnavailable:
      return 'retry';
  }
}

/**
 * Runs a domain decision for a message handler: a domain error that can never apply becomes a
 * RejectedMessageError (dead letter with the reason); a transient one is rethrown (redelivery).
 */
export function rejectionOf<T>(decide: () => T): T {
  try {
    return decide();
  } catch (error) {
    if (error instanceof SupplyChainError && messageDisposition(error) === 'dead-letter') {
      throw new RejectedMessageError(`${error.code}: ${error.message}`);
    }
    throw error;
  }
}
