import { requireServiceKeyring, type ServiceConfig } from '../config/service-config';
import type { ServiceKeyring } from './service-keys';
import {
  KeyringServiceTokenVerifier,
  ServiceTokenSigner,
  type ServiceCredentials,
  type ServiceTokenVerifier,
} from './service-token';

const keyringByConfig = new WeakMap<ServiceConfig, ServiceKeyring>();
const credentialsByConfig = new WeakMap<ServiceConfig, ServiceCredentials>();

/** This service's keyring (its own private key, the services' public keys), read once per configuration. */
export function serviceKeyring(config: ServiceConfig): ServiceKeyring {
  let keyring = keyringByConfig.get(config);
  if (!keyring) {
    keyring = requireServiceKeyring(config.env, config.service.name);
    keyringByConfig.set(config, keyring);
  }
  return keyring;
}

/**
 * This service's credentials for calling other services' internal routes: one signer (and one token
 * cache) per service configuration, whether it is injected (`SERVICE_CREDENTIALS`) or taken here by a
 * module factory that builds its clients from the config.
 */
export function serviceCredentials(config: ServiceConfig): ServiceCredentials {
  let credentials = credentialsByConfig.get(config);
  if (!credentials) {
    credentials = new ServiceTokenSigner(serviceKeyring(config));
    credentialsByConfig.set(config, credentials);
  }
  return credentials;
}

/** A verifier of the service tokens sent to this service. */
export function serviceTokenVerifier(config: ServiceConfig): ServiceTokenVerifier {
  return new KeyringServiceTokenVerifier(serviceKeyring(config));
}
