// Jest setup file (every project): gives the spec file's services one random SERVICE_KEY_SEED (each
// service's key pair derives from it) and one token issuer (AUTH_JWKS, AUTH_ISSUER) whose tokens
// `testAuthorization(role)` signs.
import { testIssuerKeys } from './access-token';
import { testServiceKeySeed } from './service-auth';

testServiceKeySeed();
testIssuerKeys();
