import { DomainException, ErrorCodeMappings } from '@hospital/platform';

/** Every way the inventory refuses a query or a movement. */
export enum InventoryErrorCode {
  /** No stock line for the drug (at the location asked for, or named by a movement). */
  StockNotFound = 'stock-not-found',
  /** A stock query names something that is not a formulary code or a location id. */
  InvalidQuery = 'invalid-query',
}

/**
 * Each code's transports. A movement for a drug the location does not stock can never apply, so it is
 * dead-lettered with the reason rather than retried.
 */
export const INVENTORY_ERRORS: ErrorCodeMappings<InventoryErrorCode> = {
  [InventoryErrorCode.StockNotFound]: { status: 404, issue: 'not-found', message: 'dead-letter' },
  [InventoryErrorCode.InvalidQuery]: { status: 400, issue: 'invalid', message: 'dead-letter' },
};

/** A refusal of the inventory; the message names codes and locations only (never patient data). */
export class InventoryException extends DomainException<InventoryErrorCode> {
  constructor(code: InventoryErrorCode, message: string, expression: readonly string[] = []) {
    super('inventory', code, INVENTORY_ERRORS, message, { expression });
  }
}
