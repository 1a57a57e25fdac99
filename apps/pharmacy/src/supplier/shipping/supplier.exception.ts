import { DomainException, ErrorCodeMappings } from '@hospital/platform';

/** Every way the simulated supplier refuses a purchase order. */
export enum SupplierErrorCode {
  /** A purchase order id arrived again with other contents: it can never apply. */
  PurchaseOrderConflict = 'purchase-order-conflict',
}

/** Each code's transports (the supplier reads messages only; the status serves its admin routes). */
export const SUPPLIER_ERRORS: ErrorCodeMappings<SupplierErrorCode> = {
  [SupplierErrorCode.PurchaseOrderConflict]: { status: 409, issue: 'conflict', message: 'dead-letter' },
};

/** A refusal of the supplier; the message names purchase order ids only. */
export class SupplierException extends DomainException<SupplierErrorCode> {
  constructor(code: SupplierErrorCode, message: string) {
    super('supplier', code, SUPPLIER_ERRORS, message);
  }
}
