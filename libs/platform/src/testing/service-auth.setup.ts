// Jest setup file (every project): gives the spec file's services one shared random SERVICE_AUTH_SECRET.
import { testServiceAuthSecret } from './service-auth';

testServiceAuthSecret();
