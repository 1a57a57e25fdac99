import { DomainException, ErrorCodeMappings } from '@hospital/platform';

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

/**
 * Each code's transports: a message that can never apply is dead-lettered with the code as the reason;
 * an unreachable message server is transient, retried.
 */
export const SUPPLY_CHAIN_ERRORS: ErrorCodeMappings<SupplyChainErrorCode> = {
  [SupplyChainErrorCode.InvalidPurchaseOrder]: { status: 400, issue: 'invalid', message: 'dead-letter' },
  [SupplyChainErrorCode.ReorderConflict]: { status: 409, issue: 'conflict', message: 'dead-letter' },
  [SupplyChainErrorCode.UnknownPurchaseOrder]: { status: 404, issue: 'not-found', message: 'dead-letter' },
  [SupplyChainErrorCode.DeliveryMismatch]: { status: 400, issue: 'invalid', message: 'dead-letter' },
  [SupplyChainErrorCode.AlreadyDelivered]: { status: 409, issue: 'conflict', message: 'dead-letter' },
  [SupplyChainErrorCode.MessageServerUnavailable]: { status: 503, issue: 'transient', message: 'retry' },
};

/** A supply-chain domain error. The message names ids and codes only, never payload values beyond them. */
export class SupplyChainException extends DomainException<SupplyChainErrorCode> {
  constructor(code: SupplyChainErrorCode, message: string, expression: readonly string[] = []) {
    super('supply-chain', code, SUPPLY_CHAIN_ERRORS, message, { expression });
  }
}
