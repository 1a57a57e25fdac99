import { Controller, Get, Header, Inject } from '@nestjs/common';
import { ApiExcludeController } from '@nestjs/swagger';
import { SERVICE_CONFIG, type ServiceConfig } from '../config/service-config';
import { Public } from './access.decorators';
import { ROLE_SCOPES } from './roles';
import { ROLES } from './principal';

/** SMART App Launch 2.0 discovery document (`/.well-known/smart-configuration`). */
export interface SmartConfiguration {
  issuer: string;
  jwks_uri?: string;
  authorization_endpoint: string;
  token_endpoint: string;
  grant_types_supported: string[];
  token_endpoint_auth_methods_supported: string[];
  scopes_supported: string[];
  response_types_supported: string[];
  capabilities: string[];
  code_challenge_methods_supported: string[];
}

/**
 * The discovery document of a service configured with `AccessEnvironment`: its issuer, the issuer's key
 * set and endpoints (`AUTH_JWKS_URI`, `AUTH_AUTHORIZATION_ENDPOINT`, `AUTH_TOKEN_ENDPOINT`; the two
 * endpoints default to `<issuer>/authorize` and `<issuer>/token`, which SMART requires to be named), and
 * every scope a role of the hospital can be granted.
 */
export function smartConfiguration(config: ServiceConfig): SmartConfiguration {
  const env = config.env;
  const issuer = (env.AUTH_ISSUER ?? '').replace(/\/+$/, '');
  const scopes = new Set<string>(['openid', 'fhirUser', 'launch/patient', 'offline_access']);
  for (const role of ROLES) for (const scope of ROLE_SCOPES[role]) scopes.add(scope);
  return {
    issuer,
    ...(env.AUTH_JWKS_URI === undefined ? {} : { jwks_uri: env.AUTH_JWKS_URI }),
    authorization_endpoint: env.AUTH_AUTHORIZATION_ENDPOINT ?? `${issuer}/authorize`,
    token_endpoint: env.AUTH_TOKEN_ENDPOINT ?? `${issuer}/token`,
    grant_types_supported: ['authorization_code', 'client_credentials'],
    token_endpoint_auth_methods_supported: ['private_key_jwt', 'client_secret_basic'],
    scopes_supported: [...scopes],
    response_types_supported: ['code'],
    capabilities: [
      'launch-standalone',
      'client-public',
      'client-confidential-symmetric',
      'client-confidential-asymmetric',
      'context-standalone-patient',
      'permission-user',
      'permission-v1',
      'permission-v2',
    ],
    code_challenge_methods_supported: ['S256'],
  };
}

@ApiExcludeController()
@Controller('.well-known')
export class SmartConfigurationController {
  constructor(@Inject(SERVICE_CONFIG) private readonly config: ServiceConfig) {}

  @Public()
  @Get('smart-configuration')
  @Header('Cache-Control', 'public, max-age=3600')
  configuration(): SmartConfiguration {
    return smartConfiguration(this.config);
  }
}
