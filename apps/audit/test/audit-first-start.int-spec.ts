import { existsSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import type { INestApplication } from '@nestjs/common';
import { FhirExceptionFilter } from '@hospital/fhir';
import { AUDIT_RECORD_TYPE, createServiceApp, Database } from '@hospital/platform';
import { createTestDatabase } from '@hospital/platform/testing/test-database';
import { eventually } from '@hospital/platform/testing/waiting';
import { ServiceProcess } from '../../../scripts/lib/service-process';
import { findService, serviceEntry } from '../../../scripts/services';
import { auditConfig } from '../src/config';
import { AuditModule } from '../src/audit.module';
import { migrations as auditMigrations } from '../src/database/migrations';
import { testAuthorizationFor } from '@hospital/platform/testing/access-token';

/**
 * The first start of the audit service, after services already wrote records: with no queue bound yet the
 * broker routes them nowhere, so the LIS's relay keeps them in its outbox and publishes them again until
 * the audit service has declared its queue. None is lost, none stored twice.
 */
jest.setTimeout(90_000);

const LIS_PORT = 4202;
const AUDIT_PORT = 4203;

describe('the audit trail before the audit service ever ran', () => {
  let lis: ServiceProcess | undefined;
  let audit: INestApplication | undefined;
  let lisDb: Database;
  let auditDb: Database;
  const drops: (() => Promise<void>)[] = [];
  const namespace = `audit-first-${randomBytes(4).toString('hex')}`;
  const env = (database: string, port: number): NodeJS.ProcessEnv => ({
    ...process.env,
    PORT: String(port),
    PGDATABASE: database,
    LOG_LEVEL: 'error',
    MESSAGING_NAMESPACE: namespace,
    OUTBOX_POLL_MS: '100',
  });

  beforeAll(async () => {
    if (!existsSync(serviceEntry('lis')))
      throw new Error('the LIS runs from dist/: build it first (node scripts/build.mjs)');
    const lisCreated = await createTestDatabase('lis_audit_spec', [...findService('lis').migrations]);
    const auditCreated = await createTestDatabase('audit_audit_spec', auditMigrations);
    drops.push(lisCreated.drop, auditCreated.drop);
    lisDb = new Database(lisCreated.settings, 'lis-audit-first-spec');
    auditDb = new Database(auditCreated.settings, 'audit-audit-first-spec');
    lis = await ServiceProcess.start({
      name: 'lis',
      entry: serviceEntry('lis'),
      port: LIS_PORT,
      env: env(lisCreated.settings.database, LIS_PORT),
    });
    const config = auditConfig({ ...env(auditCreated.settings.database, AUDIT_PORT), LOG_LEVEL: 'silent' });
    // Built now, started below: its queue does not exist until it starts.
    audit = await createServiceApp(AuditModule.forRoot(config), config, {
      filters: [new FhirExceptionFilter()],
    });
  }, 90_000);

  afterAll(async () => {
    await audit?.close();
    await lis?.stop();
    await lisDb?.close();
    await auditDb?.close();
    for (const drop of drops) await drop().catch(() => undefined);
  });

  it('keeps the records in the outbox until the audit service first starts, then delivers each once', async () => {
    for (const id of ['p-1', 'p-2', 'p-3'])
      expect(
        (
          await fetch(`http://127.0.0.1:${LIS_PORT}/fhir/Patient/${id}`, {
            headers: { authorization: testAuthorizationFor('/fhir') },
          })
        ).status,
      ).toBe(404);
    const held = await eventually(
      () =>
        lisDb.query<{ attempts: number }>(
          `SELECT attempts FROM tx_outbox WHERE type = $1 AND published_at IS NULL ORDER BY position`,
          [AUDIT_RECORD_TYPE],
        ),
      (rows) => rows.length === 3 && rows[0].attempts >= 1,
    );
    expect(held).toHaveLength(3);
    expect(held[0].attempts).toBeGreaterThanOrEqual(1);

    await audit!.listen(AUDIT_PORT, '127.0.0.1');
    const stored = await eventually(
      () => auditDb.query<{ patient: string }>('SELECT patient FROM audit_event ORDER BY seq'),
      (rows) => rows.length >= 3,
      60_000,
    );
    expect(stored.map((row) => row.patient).sort()).toEqual(['p-1', 'p-2', 'p-3']);
    const [pending] = await lisDb.query<{ n: number }>(
      'SELECT count(*)::int AS n FROM tx_outbox WHERE type = $1 AND published_at IS NULL',
      [AUDIT_RECORD_TYPE],
    );
    expect(pending.n).toBe(0);
  });
});
