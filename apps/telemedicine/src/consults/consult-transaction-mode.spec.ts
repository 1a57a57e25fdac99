import type { FhirRequestSteering } from '@hospital/fhir';
import { consultTransactionModeOf } from './consult-transaction-mode';
import { ConsultsErrorCode, ConsultsException } from './consults.exception';

const steering = (parameter?: string, header?: string): FhirRequestSteering => ({
  parameter: (name) => (name === '_mode' ? parameter : undefined),
  header: (name) => (name === 'x-transaction-mode' ? header : undefined),
});

function refusal(run: () => unknown): { status: number; code: string } {
  try {
    run();
  } catch (error) {
    if (error instanceof ConsultsException) return { status: error.status, code: error.code };
    throw error;
  }
  throw new Error('expected a refusal');
}

describe('consultTransactionModeOf', () => {
  it('is 3pc unless the request asks otherwise, measurement modes on or off', () => {
    for (const measurement of [true, false]) {
      expect(consultTransactionModeOf(steering(), measurement)).toBe('3pc');
      expect(consultTransactionModeOf(steering(''), measurement)).toBe('3pc');
      expect(consultTransactionModeOf(undefined, measurement)).toBe('3pc');
      expect(consultTransactionModeOf(steering('3pc'), measurement)).toBe('3pc');
      expect(consultTransactionModeOf(steering(undefined, '3pc'), measurement)).toBe('3pc');
    }
  });

  it('takes ?_mode=, else the x-transaction-mode header, where measurement modes are enabled', () => {
    expect(consultTransactionModeOf(steering('2pc'), true)).toBe('2pc');
    expect(consultTransactionModeOf(steering(undefined, 'uncoordinated'), true)).toBe('uncoordinated');
    expect(consultTransactionModeOf(steering('2pc', '2pc'), true)).toBe('2pc');
  });

  it.each([
    ['2pc by ?_mode=', steering('2pc')],
    ['uncoordinated by ?_mode=', steering('uncoordinated')],
    ['2pc by the header', steering(undefined, '2pc')],
    ['uncoordinated by the header', steering(undefined, 'uncoordinated')],
  ])('refuses %s with a 400 without CONSULT_MEASUREMENT_MODES', (_what, request) => {
    expect(refusal(() => consultTransactionModeOf(request, false))).toEqual({
      status: 400,
      code: ConsultsErrorCode.MeasurementModeDisabled,
    });
  });

  it.each([
    ['an unknown mode', steering('saga')],
    ['an unknown header', steering(undefined, '3PC')],
    ['two modes that disagree', steering('3pc', '2pc')],
  ])('refuses %s with a 400', (_what, request) => {
    for (const measurement of [true, false])
      expect(refusal(() => consultTransactionModeOf(request, measurement))).toEqual({
        status: 400,
        code: ConsultsErrorCode.UnknownMode,
      });
  });
});
