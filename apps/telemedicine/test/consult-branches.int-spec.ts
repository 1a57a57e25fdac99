import { FhirResourceStore, FhirValidator, SearchParameterRegistry } from '@hospital/fhir';
import { Database } from '@hospital/platform';
import { createTestDatabase } from '@hospital/platform/testing/test-database';
import { consultRecordBranch } from '../src/consults/consult-record.branch';
import { migrations } from '../src/database/migrations';
import { seedConsultDirectory } from '../src/database/seeds/consult-directory';
import { TELEMEDICINE_RESOURCES } from '../src/fhir-resources';
import { migrations as inboxMigrations } from '../src/referral-inbox/database/migrations';
import { REFERRAL_INBOX_RESOURCES } from '../src/referral-inbox/fhir-resources';
import { recommendationBranch } from '../src/referral-inbox/recommendation.branch';
import { branchPayload, consultRequest, examplePlan, virtualSession } from '../src/testing/consult-examples';

const validator = new FhirValidator();

/** Versions written, all types: a second application of a branch must add none. */
async function versions(db: Database): Promise<number> {
  const rows = await db.query<{ n: number }>('SELECT count(*)::int AS n FROM fhir_resource_history');
  return rows[0].n;
}

describe('telemedicine consult-record branch (real PostgreSQL)', () => {
  let drop: () => Promise<void>;
  let db: Database;
  const store = new FhirResourceStore(new SearchParameterRegistry(TELEMEDICINE_RESOURCES));
  const apply = consultRecordBranch(store, validator);

  beforeAll(async () => {
    const created = await createTestDatabase('telemedicine', migrations);
    drop = created.drop;
    db = new Database(created.settings, 'telemedicine-branch-spec');
    await seedConsultDirectory(db);
    await db.transaction(async (tx) => {
      await store.create(tx, consultRequest(), { id: 'sr-1' });
      await store.create(tx, virtualSession('sr-1'), { id: 'enc-1' });
    });
  });

  afterAll(async () => {
    await db?.close();
    await drop?.();
  });

  it('completes the request, finishes the session and keeps the findings, once however often applied', async () => {
    const payload = branchPayload(examplePlan(), 'telemedicine');
    await db.transaction((tx) => apply(tx, payload, 'gtid-1'));
    const after = await versions(db);
    await db.transaction((tx) => apply(tx, payload, 'gtid-1'));
    expect(await versions(db)).toBe(after);
    expect((await store.read(db, 'ServiceRequest', 'sr-1')).meta.versionId).toBe('2');
    expect(await store.read(db, 'ServiceRequest', 'sr-1')).toMatchObject({ status: 'completed' });
    expect(await store.read(db, 'Encounter', 'enc-1')).toMatchObject({ status: 'finished' });
    expect(await store.read(db, 'DiagnosticReport', 'dr-1')).toMatchObject({ status: 'final' });
  });

  it('refuses a bad payload and writes nothing', async () => {
    const before = await versions(db);
    const payload = { ...branchPayload(examplePlan(), 'telemedicine'), encounterVersion: 'x' };
    await expect(db.transaction((tx) => apply(tx, payload, 'gtid-2'))).rejects.toThrow(
      /consult-record payload: encounterVersion/,
    );
    expect(await versions(db)).toBe(before);
  });

  it('refuses a record changed since the completion read it (409), writing nothing', async () => {
    await db.transaction(async (tx) => {
      await store.create(tx, consultRequest(), { id: 'sr-2' });
      await store.create(tx, virtualSession('sr-2'), { id: 'enc-2' });
      await store.update(tx, { ...consultRequest(), id: 'sr-2', priority: 'urgent' });
    });
    const plan = examplePlan();
    const payload = JSON.parse(
      JSON.stringify(branchPayload(plan, 'telemedicine'))
        .replaceAll('sr-1', 'sr-2')
        .replaceAll('enc-1', 'enc-2')
        .replaceAll('dr-1', 'dr-2'),
    ) as Record<string, unknown>;
    const before = await versions(db);
    await expect(db.transaction((tx) => apply(tx, payload, 'gtid-3'))).rejects.toMatchObject({
      status: 409,
      code: 'record-changed',
    });
    expect(await versions(db)).toBe(before);
    await expect(store.exists(db, 'DiagnosticReport', 'dr-2')).resolves.toBe(false);
  });
});

describe('referral inbox recommendation branch (real PostgreSQL)', () => {
  let drop: () => Promise<void>;
  let db: Database;
  const store = new FhirResourceStore(new SearchParameterRegistry(REFERRAL_INBOX_RESOURCES));
  const apply = recommendationBranch(store, validator);

  beforeAll(async () => {
    const created = await createTestDatabase('referral-inbox', inboxMigrations);
    drop = created.drop;
    db = new Database(created.settings, 'referral-inbox-branch-spec');
  });

  afterAll(async () => {
    await db?.close();
    await drop?.();
  });

  it('keeps the recommendation once however often applied, and 409s other content under its id', async () => {
    const payload = branchPayload(examplePlan(), 'referral-inbox');
    await db.transaction((tx) => apply(tx, payload, 'gtid-1'));
    await db.transaction((tx) => apply(tx, payload, 'gtid-1'));
    expect(await versions(db)).toBe(1);
    expect(await store.read(db, 'Communication', 'comm-1')).toMatchObject({
      recipient: [{ reference: 'Organization/site-0001' }],
    });
    const other = { communication: { ...(payload.communication as object), sent: '2025-02-01T00:00:00Z' } };
    await expect(db.transaction((tx) => apply(tx, other, 'gtid-9'))).rejects.toMatchObject({ status: 409 });
    expect(await versions(db)).toBe(1);
  });

  it('refuses a bad payload and writes nothing', async () => {
    await expect(db.transaction((tx) => apply(tx, { communication: 'hello' }, 'gtid-2'))).rejects.toThrow(
      /recommendation payload/,
    );
    expect(await versions(db)).toBe(1);
  });
});
