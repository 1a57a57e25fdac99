import type { FhirRequestSteering } from '@hospital/fhir';
import { PlanErrorCode, PlanException } from './plans.exception';
import { transactionModeOf } from './transaction-mode';

const steering = (parameter?: string, header?: string): FhirRequestSteering => ({
  parameter: (name) => (name === '_mode' ? parameter : undefined),
  header: (name) => (name === 'x-transaction-mode' ? header : undefined),
});

describe('transactionModeOf', () => {
  it('takes ?_mode=, else the x-transaction-mode header, else the default', () => {
    expect(transactionModeOf(steering('saga'), 'tcc')).toBe('saga');
    expect(transactionModeOf(steering(undefined, 'quota-saga'), 'tcc')).toBe('quota-saga');
    expect(transactionModeOf(steering('tcc', 'tcc'), 'saga')).toBe('tcc');
    expect(transactionModeOf(steering(), 'quota-saga')).toBe('quota-saga');
    expect(transactionModeOf(steering(''), 'saga')).toBe('saga');
    expect(transactionModeOf(undefined, 'tcc')).toBe('tcc');
  });

  it.each([
    ['an unknown mode', steering('2pc')],
    ['an unknown header', steering(undefined, 'SAGA')],
    ['two modes that disagree', steering('saga', 'tcc')],
  ])('refuses %s with a 400', (_what, request) => {
    let refused: unknown;
    try {
      transactionModeOf(request, 'tcc');
    } catch (error) {
      refused = error;
    }
    expect(refused).toBeInstanceOf(PlanException);
    expect(refused).toMatchObject({ code: PlanErrorCode.UnknownMode, status: 400 });
  });
});
