import { GatewayErrorCode, GatewayException } from '../gateway.exception';
import { backendFailure, checkedPath } from './gateway-proxy';

const coded = (code: string): Error => Object.assign(new Error('x'), { code });

describe('backendFailure', () => {
  it.each([
    [coded('ECONNREFUSED'), GatewayErrorCode.BackendUnavailable, 503],
    [
      new AggregateError([coded('ECONNREFUSED'), coded('ECONNREFUSED')]),
      GatewayErrorCode.BackendUnavailable,
      503,
    ],
    [
      Object.assign(new Error('wrapped'), { cause: coded('UND_ERR_CONNECT_TIMEOUT') }),
      GatewayErrorCode.BackendUnavailable,
      503,
    ],
    [coded('UND_ERR_HEADERS_TIMEOUT'), GatewayErrorCode.BackendTimeout, 504],
    [coded('UND_ERR_BODY_TIMEOUT'), GatewayErrorCode.BackendTimeout, 504],
    [coded('UND_ERR_SOCKET'), GatewayErrorCode.BadGateway, 502],
    [coded('HPE_INVALID_CONSTANT'), GatewayErrorCode.BadGateway, 502],
    ['not even an error', GatewayErrorCode.BadGateway, 502],
  ])('maps %p to %s (%d)', (error, code, status) => {
    const failure = backendFailure(error, 'emr');
    expect(failure).toBeInstanceOf(GatewayException);
    expect(failure.code).toBe(code);
    expect(failure.status).toBe(status);
    expect(failure.message).toContain('emr');
  });
});

describe('checkedPath', () => {
  it('splits a FHIR path into its segments, ignoring the query', () => {
    expect(checkedPath('/fhir/Patient/p-1/_history/2?x=../y')).toEqual([
      'fhir',
      'Patient',
      'p-1',
      '_history',
      '2',
    ]);
  });

  it.each([
    '/fhir/Patient/..',
    '/fhir/Patient/%2e%2e/internal',
    '/fhir/./Patient',
    '/fhir/Patient/a%2Fb',
    '/fhir/Patient/a%5Cb',
    '/fhir/Patient/%E0%A4%A',
  ])('refuses %s with 400', (path) => {
    expect(() => checkedPath(path)).toThrow(GatewayException);
    try {
      checkedPath(path);
    } catch (error) {
      expect((error as GatewayException).status).toBe(400);
    }
  });
});
