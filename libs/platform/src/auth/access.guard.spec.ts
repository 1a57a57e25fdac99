import { ExecutionContext, HttpException } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import type { Logger } from 'pino';
import type { AuditRecord } from '../audit/audit-record';
import type { ServiceConfig } from '../config/service-config';
import { ACCESS_RULE, ACCESS_ROLES } from './access.decorators';
import { AccessGuard } from './access.guard';
import { JwksAccessTokenVerifier } from './access-token';
import { devIssuerJwks, generateDevIssuerKeys, signDevToken } from './dev-issuer';
import type { RequestWithPrincipal } from './principal';
import { seededServiceKeyring } from './service-keys';
import { KeyringServiceTokenVerifier, ServiceTokenSigner } from './service-token';

const SEED = 'the-platform-development-seed-0123456789';
const keys = generateDevIssuerKeys('https://issuer.test');
const lines: unknown[] = [];
const audited: AuditRecord[] = [];
const guard = new AccessGuard(
  new Reflector(),
  new JwksAccessTokenVerifier({
    jwks: devIssuerJwks(keys),
    issuer: 'https://issuer.test',
    audience: 'hospital',
    clockSkewSeconds: 30,
  }),
  new KeyringServiceTokenVerifier(seededServiceKeyring(SEED, 'emr')),
  { service: { name: 'emr', defaultPort: 3001 } } as ServiceConfig,
  {
    warn: (...args: unknown[]) => lines.push(args),
    error: (...args: unknown[]) => lines.push(args),
  } as unknown as Logger,
  { record: (records) => Promise.resolve(void audited.push(...records)) },
);

class FhirRoutes {
  read(): void {}
}
class AdminRoutes {
  list(): void {}
}
Reflect.defineMetadata(ACCESS_RULE, { kind: 'fhir' }, FhirRoutes);
Reflect.defineMetadata(ACCESS_ROLES, ['administrator'], AdminRoutes);

function context(
  routes: object,
  handler: () => void,
  method: string,
  url: string,
  headers: Record<string, string>,
): { context: ExecutionContext; request: RequestWithPrincipal; sent: Record<string, string> } {
  const [path] = url.split('?') as [string];
  const request = {
    method,
    path,
    url,
    headers,
    ip: '10.0.0.9',
    route: { path: '/fhir/:type/:id' },
  } as unknown as RequestWithPrincipal;
  const sent: Record<string, string> = {};
  const response = { setHeader: (name: string, value: string) => (sent[name] = value) };
  const http = { getRequest: () => request, getResponse: () => response };
  const ctx = {
    getType: () => 'http',
    getHandler: () => handler,
    getClass: () => routes,
    switchToHttp: () => http,
  } as unknown as ExecutionContext;
  return { context: ctx, request, sent };
}

async function refusal(ctx: ExecutionContext): Promise<HttpException> {
  const error = await guard.canActivate(ctx).then(
    () => new Error('allowed'),
    (e: unknown) => e,
  );
  if (error instanceof HttpException) return error;
  throw error;
}

describe('AccessGuard', () => {
  beforeEach(() => {
    lines.length = 0;
    audited.length = 0;
  });

  it('puts the principal on the request when the scopes cover the interaction', async () => {
    const token = signDevToken(keys, { role: 'nurse', sub: 'n-1' });
    const { context: ctx, request } = context(
      FhirRoutes,
      FhirRoutes.prototype.read,
      'GET',
      '/fhir/Patient/p1',
      {
        authorization: `Bearer ${token}`,
      },
    );
    await expect(guard.canActivate(ctx)).resolves.toBe(true);
    expect(request.principal).toMatchObject({ kind: 'user', id: 'n-1', role: 'nurse' });
  });

  it('logs and audits a refusal without the token, the ids or the query of the URL', async () => {
    const token = signDevToken(keys, { role: 'auditor', sub: 'a-1', name: 'Aud Itor' });
    const url = '/fhir/Patient/patient-4711?name=Jane-Secret';
    const { context: ctx, sent } = context(FhirRoutes, FhirRoutes.prototype.read, 'GET', url, {
      authorization: `Bearer ${token}`,
    });
    const refused = await refusal(ctx);
    expect(refused.getStatus()).toBe(403);
    expect(sent['WWW-Authenticate']).toContain('insufficient_scope');
    expect(audited).toEqual([
      expect.objectContaining({
        service: 'emr',
        action: 'R',
        outcome: '4',
        status: 403,
        resourceType: 'Patient',
        interaction: '/fhir/:type/:id',
        reason: 'token scopes do not cover Patient.r',
        sourceAddress: '10.0.0.9',
        actor: { kind: 'user', id: 'a-1', name: 'Aud Itor', role: 'auditor' },
      }),
    ]);
    const logged = JSON.stringify(lines);
    expect(logged).toContain('/fhir/:type/:id');
    for (const secret of ['patient-4711', 'Jane-Secret', ...token.split('.')])
      expect(logged).not.toContain(secret);
  });

  it('admits a platform service by its service token, and refuses one for another service', async () => {
    const lis = new ServiceTokenSigner(seededServiceKeyring(SEED, 'lis'));
    const ok = context(AdminRoutes, AdminRoutes.prototype.list, 'GET', '/api/transactions', {
      authorization: lis.authorization('emr'),
    });
    await expect(guard.canActivate(ok.context)).resolves.toBe(true);
    expect(ok.request.principal).toMatchObject({ kind: 'service', id: 'lis' });
    const elsewhere = context(AdminRoutes, AdminRoutes.prototype.list, 'GET', '/api/transactions', {
      authorization: lis.authorization('pacs'),
    });
    expect((await refusal(elsewhere.context)).getStatus()).toBe(403);
  });

  it('refuses a user without the role of an admin route, and a route without any access rule', async () => {
    const clinician = `Bearer ${signDevToken(keys, { role: 'clinician' })}`;
    const admin = context(AdminRoutes, AdminRoutes.prototype.list, 'GET', '/api/transactions', {
      authorization: clinician,
    });
    expect((await refusal(admin.context)).getResponse()).toMatchObject({
      message: 'route is for administrator',
    });
    class Bare {
      handle(): void {}
    }
    const bare = context(Bare, Bare.prototype.handle, 'GET', '/api/bare', { authorization: clinician });
    expect((await refusal(bare.context)).getResponse()).toMatchObject({
      statusCode: 403,
      message: 'route has no access rule',
    });
    expect(JSON.stringify(lines)).toContain('Bare.handle');
  });
});
