import { ExecutionContext, HttpException } from '@nestjs/common';
import type { Logger } from 'pino';
import type { AuditRecord, AuditSink } from '../audit/audit-record';
import type { ServiceConfig } from '../config/service-config';
import { AuthenticatedRequest, ServiceAuthGuard } from './service-auth.guard';
import { seededServiceKeyring } from './service-keys';
import { KeyringServiceTokenVerifier, ServiceTokenSigner } from './service-token';

const SEED = 'the-platform-development-seed-0123456789';

function context(authorization: string | undefined): {
  context: ExecutionContext;
  request: AuthenticatedRequest;
  headers: Record<string, string>;
} {
  const request = {
    method: 'POST',
    headers: authorization === undefined ? {} : { authorization },
    route: { path: '/internal/2pc/:gtid/outcome' },
  } as unknown as AuthenticatedRequest;
  const headers: Record<string, string> = {};
  const response = { setHeader: (name: string, value: string) => (headers[name] = value) };
  const http = { getRequest: () => request, getResponse: () => response };
  return { context: { switchToHttp: () => http } as unknown as ExecutionContext, request, headers };
}

describe('ServiceAuthGuard', () => {
  const lines: unknown[] = [];
  const logger = { warn: (...args: unknown[]) => lines.push(args) } as unknown as Logger;
  const guard = new ServiceAuthGuard(
    new KeyringServiceTokenVerifier(seededServiceKeyring(SEED, 'emr')),
    logger,
  );

  beforeEach(() => (lines.length = 0));

  it('puts the verified caller on the request', async () => {
    const { context: ctx, request } = context(
      new ServiceTokenSigner(seededServiceKeyring(SEED, 'lis')).authorization('emr'),
    );
    await expect(guard.canActivate(ctx)).resolves.toBe(true);
    expect(request.serviceCaller?.name).toBe('lis');
    expect(lines).toEqual([]);
  });

  it('refuses with 401 or 403 and a reason, and logs the refusal without the token', async () => {
    const forged = new ServiceTokenSigner(seededServiceKeyring(`${SEED}-other`, 'lis')).authorization('emr');
    const elsewhere = new ServiceTokenSigner(seededServiceKeyring(SEED, 'lis')).authorization('pacs');
    const cases: [string | undefined, number, string][] = [
      [undefined, 401, 'missing bearer token'],
      ['Bearer', 401, 'authorization must be a bearer token'],
      [forged, 401, 'bad token signature'],
      [elsewhere, 403, 'token is for another service than emr'],
    ];
    for (const [authorization, status, reason] of cases) {
      const { context: ctx, headers } = context(authorization);
      const refused = await guard.canActivate(ctx).then(
        () => undefined,
        (error: unknown) => error,
      );
      expect(refused).toBeInstanceOf(HttpException);
      expect((refused as HttpException).getStatus()).toBe(status);
      expect((refused as HttpException).getResponse()).toMatchObject({ statusCode: status, message: reason });
      expect(headers['WWW-Authenticate'] !== undefined).toBe(status === 401);
    }
    expect(lines).toHaveLength(cases.length);
    const logged = JSON.stringify(lines);
    expect(logged).toContain('/internal/2pc/:gtid/outcome');
    for (const [authorization] of cases)
      if (authorization !== undefined && authorization.length > 10)
        for (const part of authorization.slice('Bearer '.length).split('.'))
          expect(logged).not.toContain(part);
  });

  it('sends each refusal to the audit sink, with the route and reason, never the token', async () => {
    const records: AuditRecord[] = [];
    const sink: AuditSink = { record: (batch) => Promise.resolve(void records.push(...batch)) };
    const config = { service: { name: 'emr' } } as unknown as ServiceConfig;
    const audited = new ServiceAuthGuard(
      new KeyringServiceTokenVerifier(seededServiceKeyring(SEED, 'emr')),
      logger,
      config,
      sink,
    );
    const forged = new ServiceTokenSigner(seededServiceKeyring(`${SEED}-other`, 'lis')).authorization('emr');
    await expect(audited.canActivate(context(forged).context)).rejects.toBeInstanceOf(HttpException);
    await expect(audited.canActivate(context(undefined).context)).rejects.toBeInstanceOf(HttpException);
    const ok = new ServiceTokenSigner(seededServiceKeyring(SEED, 'lis')).authorization('emr');
    await expect(audited.canActivate(context(ok).context)).resolves.toBe(true);
    expect(records).toEqual([
      expect.objectContaining({
        service: 'emr',
        action: 'E',
        interaction: '/internal/2pc/:gtid/outcome',
        outcome: '4',
        status: 401,
        reason: 'bad token signature',
      }),
      expect.objectContaining({ status: 401, reason: 'missing bearer token' }),
    ]);
    for (const part of forged.slice('Bearer '.length).split('.'))
      expect(JSON.stringify(records)).not.toContain(part);
  });
});
