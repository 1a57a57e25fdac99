import { existsSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import type { OperationOutcome } from '@medplum/fhirtypes';
import { Database } from '@hospital/platform';
import { createTestDatabase } from '@hospital/platform/testing/test-database';
import { testAuthorization } from '@hospital/platform/testing/access-token';
import { eventually } from '@hospital/platform/testing/waiting';
import { ServiceProcess } from '../../../scripts/lib/service-process';
import { findService, repositoryRoot, serviceEntry } from '../../../scripts/services';

/**
 * The gateway's own refusals in the audit trail, over the real RabbitMQ and PostgreSQL: the gateway and the
 * audit service (real processes from `dist/`) refuses a request without a token and one whose scopes do not cover it, answering
 * 401/403 with an OperationOutcome only after the broker confirmed the audit record. The audit service is
 * down meanwhile (it declared its queue, then stopped); once back, it stores both records in its chain.
 */
jest.setTimeout(60_000);

const PORTS = { gateway: 4500, audit: 4501, nothing: 4549 } as const;
const NAMESPACE = `gateway-audit-spec-${randomBytes(4).toString('hex')}`;
const GATEWAY = `http://127.0.0.1:${PORTS.gateway}/fhir`;

interface StoredRecord {
  service: string;
  actor_id: string | null;
  actor_role: string | null;
  action: string;
  resource_type: string | null;
  outcome: string;
  status: number;
  reason: string | null;
  source_address: string | null;
}

describe("the gateway's refusals in the audit trail", () => {
  let gateway: ServiceProcess | undefined;
  let audit: ServiceProcess | undefined;
  let auditDb: Database;
  let auditDatabase = '';
  let drop: (() => Promise<void>) | undefined;

  const env = (port: number): NodeJS.ProcessEnv => ({
    ...process.env,
    PORT: String(port),
    LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'error',
    MESSAGING_NAMESPACE: NAMESPACE,
  });

  function startAudit(): Promise<ServiceProcess> {
    // Its own records (of the auditor's search below) stay in its outbox: the chain holds what the gateway sent.
    return ServiceProcess.start({
      name: 'audit',
      entry: serviceEntry('audit'),
      cwd: repositoryRoot(),
      port: PORTS.audit,
      env: { ...env(PORTS.audit), PGDATABASE: auditDatabase, OUTBOX_RELAY: 'false' },
      readyTimeoutMs: 30_000,
    });
  }

  const records = (): Promise<StoredRecord[]> =>
    auditDb.query<StoredRecord>(
      `SELECT service, actor_id, actor_role, action, resource_type, outcome, status, reason, source_address
         FROM audit_event ORDER BY status`,
    );

  beforeAll(async () => {
    if (!existsSync(serviceEntry('gateway')) || !existsSync(serviceEntry('audit')))
      throw new Error(
        'the gateway and the audit service run from dist/: build them first (node scripts/build.mjs)',
      );
    const created = await createTestDatabase('audit_gateway_spec', [...findService('audit').migrations]);
    drop = created.drop;
    auditDatabase = created.settings.database;
    auditDb = new Database(created.settings, 'gateway-audit-spec');
    // The audit service declares its queue once, then goes down: the gateway's records wait there.
    audit = await startAudit();
    await audit.stop();
    audit = undefined;
    gateway = await ServiceProcess.start({
      name: 'gateway',
      entry: serviceEntry('gateway'),
      cwd: repositoryRoot(),
      port: PORTS.gateway,
      // No backend runs: a refusal is the gateway's alone, and its liveness is what this spec needs.
      readyPath: '/health/live',
      env: {
        ...env(PORTS.gateway),
        GATEWAY_BACKENDS: 'emr',
        EMR_URL: `http://127.0.0.1:${PORTS.nothing}`,
        GATEWAY_CONNECT_TIMEOUT_MS: '200',
      },
      readyTimeoutMs: 30_000,
    });
  }, 90_000);

  afterAll(async () => {
    await audit?.stop();
    await gateway?.stop();
    await auditDb?.close();
    await drop?.().catch(() => undefined);
  });

  it('answers 401 and 403 with an OperationOutcome, and the audit service stores both refusals once back', async () => {
    const anonymous = await fetch(`${GATEWAY}/Patient/pat-1`, {
      headers: { accept: 'application/fhir+json' },
    });
    expect(anonymous.status).toBe(401);
    expect(anonymous.headers.get('www-authenticate')).toContain('Bearer');
    expect(((await anonymous.json()) as OperationOutcome).resourceType).toBe('OperationOutcome');

    // An auditor's scopes cover AuditEvent only: a patient search is beyond them.
    const auditor = await fetch(`${GATEWAY}/Patient?family=Gatewood`, {
      headers: { accept: 'application/fhir+json', authorization: testAuthorization('auditor') },
    });
    expect(auditor.status).toBe(403);
    expect(auditor.headers.get('www-authenticate')).toContain('insufficient_scope');
    expect(((await auditor.json()) as OperationOutcome).resourceType).toBe('OperationOutcome');

    // Both answers left after the broker confirmed: the records wait in the queue while the audit service is down.
    expect(await records()).toEqual([]);
    audit = await startAudit();
    const stored = await eventually(records, (rows) => rows.length >= 2);
    expect(stored).toEqual([
      {
        service: 'gateway',
        actor_id: null,
        actor_role: null,
        action: 'R',
        resource_type: 'Patient',
        outcome: '4',
        status: 401,
        reason: 'missing bearer token',
        source_address: expect.any(String),
      },
      {
        service: 'gateway',
        actor_id: 'test-auditor',
        actor_role: 'auditor',
        action: 'R',
        resource_type: 'Patient',
        outcome: '4',
        status: 403,
        reason: 'token scopes do not cover Patient.s',
        source_address: expect.any(String),
      },
    ]);
  });

  it('serves the refusals as AuditEvents to an auditor, searchable by outcome', async () => {
    const response = await fetch(`http://127.0.0.1:${PORTS.audit}/fhir/AuditEvent?outcome=4&_count=10`, {
      headers: { accept: 'application/fhir+json', authorization: testAuthorization('auditor') },
    });
    expect(response.status).toBe(200);
    const bundle = (await response.json()) as {
      entry?: { resource?: { source?: { observer?: { display?: string } } } }[];
    };
    expect(bundle.entry).toHaveLength(2);
  });
});
