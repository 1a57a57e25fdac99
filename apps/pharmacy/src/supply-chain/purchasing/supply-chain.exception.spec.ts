import { FhirErrorCode } from '@hospital/fhir';
import { RejectedMessageError } from '@hospital/transactions';
import {
  messageDisposition,
  rejectionOf,
  SupplyChainError,
  SupplyChainErrorCode,
  toFhirException,
} from './supply-chain.exception';

const expected: Record<
  SupplyChainErrorCode,
  { fhir: FhirErrorCode; status: number; message: 'dead-letter' | 'retry' }
> = {
  [SupplyChainErrorCode.InvalidPurchaseOrder]: {
    fhir: FhirErrorCode.Invalid,
    status: 400,
    message: 'dead-letter',
  },
  [SupplyChainErrorCode.ReorderConflict]: {
    fhir: FhirErrorCode.Conflict,
    status: 409,
    message: 'dead-letter',
  },
  [SupplyChainErrorCode.UnknownPurchaseOrder]: {
    fhir: FhirErrorCode.NotFound,
    status: 404,
    message: 'dead-letter',
  },
  [SupplyChainErrorCode.DeliveryMismatch]: {
    fhir: FhirErrorCode.Invalid,
    status: 400,
    message: 'dead-letter',
  },
  [SupplyChainErrorCode.AlreadyDelivered]: {
    fhir: FhirErrorCode.Conflict,
    status: 409,
    message: 'dead-letter',
  },
  [SupplyChainErrorCode.MessageServerUnavailable]: {
    fhir: FhirErrorCode.Unavailable,
    status: 503,
    message: 'retry',
  },
};

describe('supply-chain error mapping', () => {
  it.each(Object.entries(expected))('maps %s to its HTTP status and message disposition', (code, want) => {
    const error = new SupplyChainError(code as SupplyChainErrorCode, 'Reorder r1: something');
    const fhir = toFhirException(error);
    expect(fhir.code).toBe(want.fhir);
    expect(fhir.status).toBe(want.status);
    expect(fhir.outcome.issue[0].diagnostics).toBe('Reorder r1: something');
    expect(messageDisposition(error)).toBe(want.message);
  });

  it('turns a permanent domain error into a dead letter with its reason, and lets others through', () => {
    const permanent = new SupplyChainError(SupplyChainErrorCode.DeliveryMismatch, 'mismatch');
    expect(() =>
      rejectionOf(() => {
        throw permanent;
      }),
    ).toThrow(new RejectedMessageError('delivery-mismatch: mismatch'));
    const transient = new SupplyChainError(SupplyChainErrorCode.MessageServerUnavailable, 'down');
    expect(() =>
      rejectionOf(() => {
        throw transient;
      }),
    ).toThrow(transient);
    expect(rejectionOf(() => 'complete')).toBe('complete');
  });
});
