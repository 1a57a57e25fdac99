// Jest setup file (every project): gives the spec file's services one shared random SERVICE_AUTH_SECRET
// and one token issuer (AUTH_JWKS, AUTH_ISSUER) whose tokens `testAuthorization(role)` signs.
import { testIssuerKeys } from './access-token';
import { testServiceAuthSecret } from './service-auth';

testServiceAuthSecret();
testIssuerKeys();
