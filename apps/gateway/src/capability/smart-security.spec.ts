import type { CapabilityStatement } from '@medplum/fhirtypes';
import type { SmartConfiguration } from '@hospital/platform';
import { SMART_OAUTH_URIS, withSmartSecurity } from './smart-security';

const smart = {
  authorization_endpoint: 'https://idp.hospital.example/authorize',
  token_endpoint: 'https://idp.hospital.example/token',
} as SmartConfiguration;

const statement = (
  security?: NonNullable<CapabilityStatement['rest']>[number]['security'],
): CapabilityStatement => ({
  resourceType: 'CapabilityStatement',
  status: 'active',
  date: '2026-01-01',
  kind: 'instance',
  fhirVersion: '4.0.1',
  format: ['json'],
  rest: [{ mode: 'server', ...(security === undefined ? {} : { security }) }],
});

describe('withSmartSecurity', () => {
  it('names the SMART service and its authorize and token endpoints', () => {
    const security = withSmartSecurity(statement(), smart).rest?.[0]?.security;
    expect(security?.service?.[0]?.coding?.[0]?.code).toBe('SMART-on-FHIR');
    const uris = security?.extension?.find((e) => e.url === SMART_OAUTH_URIS)?.extension ?? [];
    expect(Object.fromEntries(uris.map((e) => [e.url, e.valueUri]))).toEqual({
      authorize: 'https://idp.hospital.example/authorize',
      token: 'https://idp.hospital.example/token',
    });
  });

  it('keeps a security section a backend declared', () => {
    const own = { description: 'mutual TLS' };
    expect(withSmartSecurity(statement(own), smart).rest?.[0]?.security).toEqual(own);
  });
});
