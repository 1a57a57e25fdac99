import type { Patient, ServiceRequest } from '@medplum/fhirtypes';
import { Database } from '@hospital/platform';
import { createTestDatabase } from '@hospital/platform/testing/test-database';
import {
  FhirErrorCode,
  FhirException,
  FhirResourceStore,
  fhirStoreMigrations,
  SearchParameterRegistry,
} from '@hospital/fhir';

const registry = new SearchParameterRegistry({
  Patient: ['_id', 'identifier', 'name', 'family', 'given', 'birthdate', 'gender'],
  Encounter: ['_id', 'subject', 'patient', 'status'],
  ServiceRequest: ['_id', 'subject', 'patient', 'category', 'status', 'identifier', 'encounter'],
});
const store = new FhirResourceStore(registry);

async function rejection(work: Promise<unknown>): Promise<FhirException> {
  try {
    await work;
  } catch (error) {
    if (error instanceof FhirException) return error;
    throw error;
  }
  throw new Error('expected a FhirException');
}

const MRN = 'urn:oid:2.16.840.1.113883.19.5';

function patient(mrn: string, family: string, given: string, birthDate: string, gender = 'female'): Patient {
  return {
    resourceType: 'Patient',
    identifier: [{ system: MRN, value: mrn }],
    name: [{ family, given: [given] }],
    birthDate,
    gender: gender as Patient['gender'],
  };
}

describe('FhirResourceStore (PostgreSQL)', () => {
  let db: Database;
  let drop: () => Promise<void>;

  beforeAll(async () => {
    const created = await createTestDatabase('fhirlib', fhirStoreMigrations);
    drop = created.drop;
    db = new Database(created.settings, 'test');
  }, 60_000);

  afterAll(async () => {
    await db.close();
    await drop();
  });

  async function rowCounts(
    type: string,
    id: string,
  ): Promise<{ resource: number; history: number; index: number }> {
    const [row] = await db.query<{ resource: number; history: number; index: number }>(
      `SELECT (SELECT count(*)::int FROM fhir_resource WHERE resource_type = $1 AND id = $2) AS resource,
              (SELECT count(*)::int FROM fhir_resource_history WHERE resource_type = $1 AND id = $2) AS history,
              (SELECT count(*)::int FROM fhir_search_index WHERE resource_type = $1 AND resource_id = $2) AS index`,
      [type, id],
    );
    return row;
  }

  it('creates with a server-assigned UUID, version 1, and reads it back', async () => {
    const created = await store.create(db, patient('MRN-1', 'Chalmers', 'Peter', '1974-12-25', 'male'));
    expect(created.id).toMatch(/^[0-9a-f-]{36}$/);
    expect(created.meta.versionId).toBe('1');
    expect(Number.isNaN(Date.parse(created.meta.lastUpdated))).toBe(false);
    expect(await store.read(db, 'Patient', created.id)).toEqual(created);
    expect(await store.exists(db, 'Patient', created.id)).toBe(true);
    expect(await rowCounts('Patient', created.id)).toEqual({ resource: 1, history: 1, index: 7 });
  });

  it('creates with a given id once; a second create is a 409', async () => {
    await store.create(db, patient('MRN-2', 'Given', 'Id', '1980-01-01'), { id: 'fixed-id-1' });
    expect(
      (await rejection(store.create(db, patient('MRN-2', 'Other', 'Id', '1980-01-01'), { id: 'fixed-id-1' })))
        .code,
    ).toBe(FhirErrorCode.Conflict);
    expect((await rejection(store.create(db, patient('x', 'y', 'z', '1980'), { id: 'bad id' }))).status).toBe(
      400,
    );
  });

  /** createMany of `items` in a transaction, which is expected to fail. */
  const rejectedCreateMany = (items: { resource: Patient; id?: string }[]) =>
    rejection(db.transaction((tx) => store.createMany(tx, items)));

  it('creates several resources in one statement with the same rows as one by one; a taken id is a 409', async () => {
    const [a, b] = await db.transaction((tx) =>
      store.createMany(tx, [
        { resource: patient('MRN-M1', 'Many', 'One', '1971-01-01') },
        { resource: patient('MRN-M2', 'Many', 'Two', '1972-02-02'), id: 'many-2' },
      ]),
    );
    expect(b.id).toBe('many-2');
    expect(await store.read(db, 'Patient', a.id)).toEqual(a);
    expect(await rowCounts('Patient', a.id)).toEqual({ resource: 1, history: 1, index: 7 });
    expect(await rowCounts('Patient', 'many-2')).toEqual({ resource: 1, history: 1, index: 7 });
    const taken = await rejectedCreateMany([
      { resource: patient('MRN-M3', 'Many', 'Three', '1973-03-03'), id: 'many-3' },
      { resource: patient('MRN-M4', 'Many', 'Four', '1974-04-04'), id: 'many-2' },
    ]);
    expect(taken.code).toBe(FhirErrorCode.Conflict);
    expect(await rowCounts('Patient', 'many-3')).toEqual({ resource: 0, history: 0, index: 0 });
  });

  it('answers a resource named twice in one createMany with a 409, like a taken id', async () => {
    const twice = await rejectedCreateMany([
      { resource: patient('MRN-T1', 'Twice', 'One', '1975-05-05'), id: 'twice-1' },
      { resource: patient('MRN-T2', 'Twice', 'Two', '1976-06-06'), id: 'twice-1' },
    ]);
    expect(twice.code).toBe(FhirErrorCode.Conflict);
    expect(await rowCounts('Patient', 'twice-1')).toEqual({ resource: 0, history: 0, index: 0 });
  });

  it('answers unknown ids with 404', async () => {
    expect((await rejection(store.read(db, 'Patient', 'nope'))).status).toBe(404);
    expect((await rejection(store.vread(db, 'Patient', 'nope', '1'))).status).toBe(404);
    expect((await rejection(store.history(db, 'Patient', 'nope'))).status).toBe(404);
    expect((await rejection(store.delete(db, 'Patient', 'nope'))).status).toBe(404);
    expect(await store.exists(db, 'Patient', 'nope')).toBe(false);
  });

  it('updates with If-Match, keeps every version, and refuses a stale version with 412', async () => {
    const v1 = await store.create(db, patient('MRN-3', 'Brown', 'Anna', '1990-03-04'));
    const v2 = await store.update(db, { ...v1, gender: 'other' }, { ifMatch: '1' });
    expect(v2.created).toBe(false);
    expect(v2.resource.meta.versionId).toBe('2');
    const stale = await rejection(store.update(db, { ...v1, gender: 'unknown' }, { ifMatch: '1' }));
    expect(stale.code).toBe(FhirErrorCode.PreconditionFailed);
    expect(stale.status).toBe(412);
    const v3 = await store.update(db, { ...v1, gender: 'female' });
    expect(v3.resource.meta.versionId).toBe('3');

    expect((await store.vread<Patient>(db, 'Patient', v1.id, '1')).gender).toBe('female');
    expect((await store.vread<Patient>(db, 'Patient', v1.id, '2')).gender).toBe('other');
    expect((await rejection(store.vread(db, 'Patient', v1.id, '4'))).status).toBe(404);
    const history = await store.history(db, 'Patient', v1.id);
    expect(history.total).toBe(3);
    expect(history.entries.map((e) => e.versionId)).toEqual(['3', '2', '1']);
    expect(await rowCounts('Patient', v1.id)).toEqual({ resource: 1, history: 3, index: 7 });
  });

  it('creates on update when the id is unknown, and refuses If-Match on an unknown id', async () => {
    const result = await store.update(db, {
      ...patient('MRN-4', 'Ng', 'Li', '2001-07-07'),
      id: 'client-chosen-1',
    });
    expect(result.created).toBe(true);
    expect(result.resource.meta.versionId).toBe('1');
    const missing = await rejection(
      store.update(
        db,
        { ...patient('MRN-5', 'Ng', 'Li', '2001-07-07'), id: 'client-chosen-2' },
        { ifMatch: '1' },
      ),
    );
    expect(missing.status).toBe(412);
    expect(await store.exists(db, 'Patient', 'client-chosen-2')).toBe(false);
  });

  it('soft-deletes: read and vread of the deletion answer 410, search no longer finds it, history keeps it', async () => {
    const created = await store.create(db, patient('MRN-DEL', 'Deleted', 'Dora', '1950-01-01'));
    const deleted = await store.delete(db, 'Patient', created.id);
    expect(deleted).toEqual({ versionId: '2', changed: true });
    expect(await store.delete(db, 'Patient', created.id)).toEqual({ versionId: '2', changed: false });
    const gone = await rejection(store.read(db, 'Patient', created.id));
    expect(gone.code).toBe(FhirErrorCode.Gone);
    expect(gone.status).toBe(410);
    expect((await rejection(store.vread(db, 'Patient', created.id, '2'))).status).toBe(410);
    expect((await store.vread<Patient>(db, 'Patient', created.id, '1')).name?.[0]?.family).toBe('Deleted');
    const found = await store.search(db, registry.parseSearch('Patient', { identifier: `${MRN}|MRN-DEL` }));
    expect(found.total).toBe(0);
    const history = await store.history(db, 'Patient', created.id);
    expect(history.entries.map((e) => [e.versionId, e.deleted, e.resource === undefined])).toEqual([
      ['2', true, true],
      ['1', false, false],
    ]);
    expect(await store.exists(db, 'Patient', created.id)).toBe(false);
    expect(await rowCounts('Patient', created.id)).toEqual({ resource: 1, history: 2, index: 0 });
    // Updating a deleted resource brings it back as a new version.
    const back = await store.update(db, { ...created });
    expect(back.resource.meta.versionId).toBe('3');
    expect((await store.read(db, 'Patient', created.id)).id).toBe(created.id);
  });

  describe('search', () => {
    const ids: Record<string, string> = {};

    beforeAll(async () => {
      const people: [string, string, string, string, string][] = [
        ['S-1', 'Müller', 'Jürgen', '1961-02-03', 'male'],
        ['S-2', 'Mueller', 'Hans', '1970-05-06', 'male'],
        ['S-3', 'Muñoz', 'Ana', '1985-08-09', 'female'],
        ['S-4', 'Smith', 'Muriel', '1985-12-31', 'female'],
        ['S-5', 'Jones', 'Bob', '1999', 'male'],
      ];
      for (const [mrn, family, given, birthDate, gender] of people) {
        ids[mrn] = (await store.create(db, patient(mrn, family, given, birthDate, gender))).id;
      }
    });

    async function searchIds(
      query: Record<string, string | string[]>,
    ): Promise<{ total?: number; ids: string[] }> {
      const result = await store.search<Patient>(db, registry.parseSearch('Patient', query));
      const byId = Object.fromEntries(Object.entries(ids).map(([mrn, id]) => [id, mrn]));
      return { total: result.total, ids: result.resources.map((r) => byId[r.id] ?? r.id) };
    }

    it('finds by identifier (system|value, value alone, wrong system)', async () => {
      expect(await searchIds({ identifier: `${MRN}|S-3` })).toEqual({ total: 1, ids: ['S-3'] });
      expect(await searchIds({ identifier: 'S-3' })).toEqual({ total: 1, ids: ['S-3'] });
      expect((await searchIds({ identifier: 'urn:other|S-3' })).total).toBe(0);
      expect((await searchIds({ identifier: 'S-1,S-2', _sort: 'identifier' })).ids).toEqual(['S-1', 'S-2']);
    });

    it('finds by name prefix, case- and accent-insensitively, across family and given names', async () => {
      expect(
        (await searchIds({ name: 'mu', _sort: 'family', identifier: 'S-1,S-2,S-3,S-4,S-5' })).ids,
      ).toEqual(['S-2', 'S-1', 'S-3', 'S-4']);
      expect((await searchIds({ family: 'MULLER' })).ids).toEqual(['S-1']);
      expect((await searchIds({ 'family:exact': 'Müller' })).ids).toEqual(['S-1']);
      expect((await searchIds({ 'family:exact': 'müller' })).total).toBe(0);
      expect((await searchIds({ given: 'jur' })).ids).toEqual(['S-1']);
      expect((await searchIds({ 'name:contains': 'LLER', _sort: 'family' })).ids).toEqual(['S-2', 'S-1']);
      expect((await searchIds({ name: '100%' })).total).toBe(0);
    });

    it('finds by birthdate with prefixes and partial dates', async () => {
      expect((await searchIds({ birthdate: '1985', _sort: 'birthdate' })).ids).toEqual(['S-3', 'S-4']);
      expect((await searchIds({ birthdate: '1985-08-09' })).ids).toEqual(['S-3']);
      expect((await searchIds({ birthdate: 'lt1970-05-06', identifier: 'S-1,S-2,S-3,S-4,S-5' })).ids).toEqual(
        ['S-1'],
      );
      expect(
        (
          await searchIds({
            birthdate: 'le1970-05-06',
            _sort: 'birthdate',
            identifier: 'S-1,S-2,S-3,S-4,S-5',
          })
        ).ids,
      ).toEqual(['S-1', 'S-2']);
      expect(
        (
          await searchIds({
            birthdate: 'gt1985-12-30',
            _sort: 'birthdate',
            identifier: 'S-1,S-2,S-3,S-4,S-5',
          })
        ).ids,
      ).toEqual(['S-4', 'S-5']);
      expect((await searchIds({ birthdate: 'ge1999-06-01', identifier: 'S-1,S-2,S-3,S-4,S-5' })).ids).toEqual(
        ['S-5'],
      );
      expect(
        (
          await searchIds({
            birthdate: ['ge1980', 'lt1990'],
            _sort: '-birthdate',
            identifier: 'S-1,S-2,S-3,S-4,S-5',
          })
        ).ids,
      ).toEqual(['S-4', 'S-3']);
      expect((await searchIds({ birthdate: 'ne1985', identifier: 'S-3,S-4,S-5' })).ids).toEqual(['S-5']);
    });

    it('finds by gender with or without the implicit system, and with :not', async () => {
      const all = 'S-1,S-2,S-3,S-4,S-5';
      expect((await searchIds({ gender: 'female', identifier: all, _sort: '_id' })).total).toBe(2);
      expect(
        (await searchIds({ gender: 'http://hl7.org/fhir/administrative-gender|female', identifier: all }))
          .total,
      ).toBe(2);
      expect((await searchIds({ 'gender:not': 'female', identifier: all })).total).toBe(3);
      expect((await searchIds({ _id: ids['S-4'] })).ids).toEqual(['S-4']);
    });

    it('pages with _count and _offset, reporting the total of all pages', async () => {
      const query = { identifier: 'S-1,S-2,S-3,S-4,S-5', _sort: 'birthdate', _count: '2' };
      expect(await searchIds(query)).toEqual({ total: 5, ids: ['S-1', 'S-2'] });
      expect(await searchIds({ ...query, _offset: '2' })).toEqual({ total: 5, ids: ['S-3', 'S-4'] });
      expect(await searchIds({ ...query, _offset: '4' })).toEqual({ total: 5, ids: ['S-5'] });
      expect(await searchIds({ ...query, _offset: '6' })).toEqual({ total: 5, ids: [] });
      expect(await searchIds({ ...query, _count: '0' })).toEqual({ total: 5, ids: [] });
      expect((await searchIds({ ...query, _total: 'none' })).total).toBeUndefined();
    });

    it('finds ServiceRequests by subject, patient, category, status and encounter', async () => {
      const request: ServiceRequest = {
        resourceType: 'ServiceRequest',
        status: 'active',
        intent: 'order',
        subject: { reference: `Patient/${ids['S-1']}` },
        encounter: { reference: 'Encounter/enc-1' },
        category: [{ coding: [{ system: 'http://snomed.info/sct', code: '108252007' }] }],
        identifier: [{ system: 'urn:lab-order', value: 'ORD-1' }],
      };
      const stored = await store.create(db, request);
      const find = async (query: Record<string, string>): Promise<number | undefined> =>
        (await store.search(db, registry.parseSearch('ServiceRequest', query))).total;
      expect(await find({ subject: `Patient/${ids['S-1']}` })).toBe(1);
      expect(await find({ patient: ids['S-1'] })).toBe(1);
      expect(await find({ 'subject:Patient': ids['S-1'] })).toBe(1);
      expect(await find({ subject: `http://emr.example/fhir/Patient/${ids['S-1']}` })).toBe(1);
      expect(await find({ patient: ids['S-2'] })).toBe(0);
      expect(await find({ category: 'http://snomed.info/sct|108252007', status: 'active' })).toBe(1);
      expect(await find({ status: 'completed' })).toBe(0);
      expect(await find({ encounter: 'Encounter/enc-1', identifier: 'urn:lab-order|ORD-1' })).toBe(1);
      expect(await find({ 'encounter:missing': 'true' })).toBe(0);
      expect(await find({ _id: stored.id })).toBe(1);
    });
  });

  describe('copies of another service’s resources', () => {
    it('writes a new own version only when the content changed', async () => {
      const source = { ...patient('COPY-1', 'Copy', 'Carl', '1960-01-01'), id: 'emr-patient-1' };
      const first = await store.upsertCopy(db, {
        ...source,
        meta: { versionId: '7', lastUpdated: '2024-01-01T00:00:00Z' },
      });
      expect(first).toMatchObject({ created: true, changed: true });
      expect(first.resource.meta.versionId).toBe('1');
      const same = await store.upsertCopy(db, {
        ...source,
        meta: { versionId: '8', lastUpdated: '2024-02-01T00:00:00Z' },
      });
      expect(same).toMatchObject({ created: false, changed: false });
      expect(same.resource.meta.versionId).toBe('1');
      const changed = await store.upsertCopy(db, { ...source, gender: 'male' });
      expect(changed).toMatchObject({ created: false, changed: true });
      expect(changed.resource.meta.versionId).toBe('2');
      expect(await rowCounts('Patient', 'emr-patient-1')).toMatchObject({ resource: 1, history: 2 });
    });

    it('keeps several copies at once: new ones in one statement, existing ones as upsertCopy would', async () => {
      const kept = { ...patient('COPY-2', 'Copy', 'Kay', '1961-02-02'), id: 'emr-patient-2' };
      const edited = { ...patient('COPY-3', 'Copy', 'Eve', '1962-03-03'), id: 'emr-patient-3' };
      await store.upsertCopies(db, [kept, edited]);
      const results = await db.transaction((tx) =>
        store.upsertCopies(tx, [
          kept,
          { ...edited, gender: 'male' },
          { ...patient('COPY-4', 'Copy', 'Neil', '1963-04-04'), id: 'emr-patient-4' },
        ]),
      );
      expect(results.map(({ created, changed }) => ({ created, changed }))).toEqual([
        { created: false, changed: false },
        { created: false, changed: true },
        { created: true, changed: true },
      ]);
      expect(results.map((r) => r.resource.meta.versionId)).toEqual(['1', '2', '1']);
      expect(await rowCounts('Patient', 'emr-patient-3')).toMatchObject({ resource: 1, history: 2 });
      expect(await rowCounts('Patient', 'emr-patient-4')).toEqual({ resource: 1, history: 1, index: 7 });
    });
  });

  describe('concurrency', () => {
    it('lets one of two concurrent updates with the same If-Match win; the other gets 412', async () => {
      const created = await store.create(db, patient('RACE-1', 'Race', 'Ray', '1981-01-01'));
      const attempt = (gender: Patient['gender']) =>
        db.transaction((tx) => store.update(tx, { ...created, gender }, { ifMatch: '1' }));
      const outcomes = await Promise.allSettled([attempt('male'), attempt('other')]);
      expect(outcomes.filter((o) => o.status === 'fulfilled')).toHaveLength(1);
      const rejected = outcomes.find((o): o is PromiseRejectedResult => o.status === 'rejected');
      expect(rejected?.reason).toBeInstanceOf(FhirException);
      expect((rejected?.reason as FhirException).status).toBe(412);
      expect(await rowCounts('Patient', created.id)).toEqual({ resource: 1, history: 2, index: 7 });
    });

    it('serialises concurrent updates without If-Match into consecutive versions', async () => {
      const created = await store.create(db, patient('RACE-2', 'Race', 'Rita', '1982-02-02'));
      const genders: Patient['gender'][] = ['male', 'other', 'unknown', 'female'];
      await Promise.all(
        genders.map((gender) => db.transaction((tx) => store.update(tx, { ...created, gender }))),
      );
      const history = await store.history(db, 'Patient', created.id);
      expect(history.entries.map((e) => e.versionId)).toEqual(['5', '4', '3', '2', '1']);
    });

    it('turns concurrent update-as-create of one id into one create and one update', async () => {
      const body = { ...patient('RACE-3', 'Race', 'Rob', '1983-03-03'), id: 'race-create-1' };
      const results = await Promise.all([
        db.transaction((tx) => store.update(tx, body)),
        db.transaction((tx) => store.update(tx, { ...body, gender: 'male' })),
      ]);
      expect(results.map((r) => r.created).sort()).toEqual([false, true]);
      expect((await store.read(db, 'Patient', 'race-create-1')).meta.versionId).toBe('2');
    });
  });

  describe('atomicity', () => {
    it('leaves no resource, history or index row behind when the transaction fails after a create', async () => {
      await expect(
        db.transaction(async (tx) => {
          await store.create(tx, patient('ATOM-1', 'Atomic', 'Amy', '1977-07-07'), { id: 'atomic-1' });
          throw new Error('participant failed');
        }),
      ).rejects.toThrow('participant failed');
      expect(await rowCounts('Patient', 'atomic-1')).toEqual({ resource: 0, history: 0, index: 0 });
    });

    it('keeps the old version intact when a failing statement aborts an update', async () => {
      const created = await store.create(db, patient('ATOM-2', 'Atomic', 'Ben', '1978-08-08'), {
        id: 'atomic-2',
      });
      await expect(
        db.transaction(async (tx) => {
          await store.update(tx, { ...created, gender: 'male' });
          await store.create(tx, patient('ATOM-2b', 'Atomic', 'Cy', '1978-08-08'), { id: 'atomic-2' });
        }),
      ).rejects.toMatchObject({ code: FhirErrorCode.Conflict });
      expect((await store.read<Patient>(db, 'Patient', 'atomic-2')).meta?.versionId).toBe('1');
      expect(await rowCounts('Patient', 'atomic-2')).toEqual({ resource: 1, history: 1, index: 7 });
    });

    it('writes nothing when a single write statement fails (no transaction around it)', async () => {
      // A date the index cannot hold makes the one write statement fail inside PostgreSQL.
      const broken = { ...patient('ATOM-3', 'Atomic', 'Dee', '1979-09-09'), id: 'atomic-3' };
      const failing = new FhirResourceStore(registry);
      const exec = {
        query: <T>(sql: string, params?: unknown[]): Promise<T[]> =>
          db.query<T>(
            sql,
            params?.map((p, i) => (i === 9 && Array.isArray(p) ? p.map(() => 'not-a-date') : p)),
          ),
      };
      await expect(failing.create(exec, broken, { id: 'atomic-3' })).rejects.toThrow();
      expect(await rowCounts('Patient', 'atomic-3')).toEqual({ resource: 0, history: 0, index: 0 });
    });

    it('runs inside a transaction that ends in PREPARE TRANSACTION and commits or rolls back with it', async () => {
      const gid = `fhirlib-test-${Date.now()}`;
      await db.withSession(async (session) => {
        await session.query('BEGIN');
        await store.create(session, patient('PREP-1', 'Prepared', 'Pat', '1980-01-01'), { id: 'prepared-1' });
        await session.query(`PREPARE TRANSACTION '${gid}'`);
      });
      expect(await rowCounts('Patient', 'prepared-1')).toEqual({ resource: 0, history: 0, index: 0 });
      await db.query(`COMMIT PREPARED '${gid}'`);
      expect(await rowCounts('Patient', 'prepared-1')).toEqual({ resource: 1, history: 1, index: 7 });
    });
  });
});
