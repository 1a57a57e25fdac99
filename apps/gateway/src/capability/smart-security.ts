import type { CapabilityStatement } from '@medplum/fhirtypes';
import type { SmartConfiguration } from '@hospital/platform';

/** The SMART extension of a CapabilityStatement's `rest.security` that names the OAuth endpoints. */
export const SMART_OAUTH_URIS = 'http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris';

/**
 * `statement` with its server `rest.security` saying what the gateway's SMART discovery says: the
 * SMART-on-FHIR service and the authorize and token endpoints, for clients that read them from
 * `metadata` rather than `.well-known/smart-configuration`. A security section a backend declared is kept.
 */
export function withSmartSecurity(
  statement: CapabilityStatement,
  smart: SmartConfiguration,
): CapabilityStatement {
  return {
    ...statement,
    rest: (statement.rest ?? []).map((rest) =>
      rest.mode !== 'server' || rest.security !== undefined
        ? rest
        : {
            ...rest,
            security: {
              cors: true,
              service: [
                {
                  coding: [
                    {
                      system: 'http://terminology.hl7.org/CodeSystem/restful-security-service',
                      code: 'SMART-on-FHIR',
                    },
                  ],
                },
              ],
              extension: [
                {
                  url: SMART_OAUTH_URIS,
                  extension: [
                    { url: 'authorize', valueUri: smart.authorization_endpoint },
                    { url: 'token', valueUri: smart.token_endpoint },
                  ],
                },
              ],
            },
          },
    ),
  };
}
