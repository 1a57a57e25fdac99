import type { FhirHttpRequest } from './http-types';
import { requestBaseUrl } from './forwarded-base';

/** A request as Express hands it over, from `address`, with `trusted` deciding Express's trust function. */
function request(
  headers: Record<string, string>,
  options: { trusted: boolean; protocol?: string; address?: string } = { trusted: false },
): FhirHttpRequest {
  const lower = Object.fromEntries(Object.entries(headers).map(([k, v]) => [k.toLowerCase(), v]));
  return {
    method: 'GET',
    originalUrl: '/fhir/Patient',
    protocol: options.protocol ?? 'http',
    headers: lower,
    query: {},
    body: undefined,
    get: (name) => lower[name.toLowerCase()],
    app: { get: (setting) => (setting === 'trust proxy fn' ? () => options.trusted : undefined) },
    socket: { remoteAddress: options.address ?? '127.0.0.1' },
  };
}

describe('requestBaseUrl', () => {
  it('names the service itself when no proxy forwarded anything', () => {
    expect(requestBaseUrl(request({ host: '127.0.0.1:3001' }, { trusted: true }))).toBe(
      'http://127.0.0.1:3001/fhir',
    );
  });

  it('names the gateway when a trusted proxy forwards its host, protocol and prefix', () => {
    const forwarded = request(
      { host: '127.0.0.1:3001', 'x-forwarded-host': 'fhir.hospital.example', 'x-forwarded-prefix': '/r4/' },
      { trusted: true, protocol: 'https' },
    );
    expect(requestBaseUrl(forwarded)).toBe('https://fhir.hospital.example/r4/fhir');
  });

  it('ignores forwarded headers from a peer it does not trust', () => {
    const forged = request(
      { host: '127.0.0.1:3001', 'x-forwarded-host': 'evil.example', 'x-forwarded-prefix': '/x' },
      { trusted: false },
    );
    expect(requestBaseUrl(forged)).toBe('http://127.0.0.1:3001/fhir');
  });

  it('ignores malformed forwarded values and takes the first of a list', () => {
    expect(
      requestBaseUrl(
        request(
          { host: 'emr:3001', 'x-forwarded-host': 'a.example/"><script>', 'x-forwarded-prefix': '/a b' },
          { trusted: true },
        ),
      ),
    ).toBe('http://emr:3001/fhir');
    expect(
      requestBaseUrl(
        request({ host: 'emr:3001', 'x-forwarded-host': 'gw:8080, inner:9' }, { trusted: true }),
      ),
    ).toBe('http://gw:8080/fhir');
  });

  it('works without Express settings (no trust function: no forwarded values)', () => {
    const plain = { ...request({ host: 'h:1', 'x-forwarded-host': 'gw:8080' }), app: undefined };
    expect(requestBaseUrl(plain)).toBe('http://h:1/fhir');
  });
});
