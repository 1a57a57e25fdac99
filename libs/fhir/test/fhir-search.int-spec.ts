import fc from 'fast-check';
import type {
  Bundle,
  CapabilityStatement,
  Encounter,
  Medication,
  MedicationRequest,
  OperationOutcome,
  Patient,
  Resource,
  ServiceRequest,
} from '@medplum/fhirtypes';
import type { Stored } from '@hospital/fhir';
import {
  families,
  matches,
  patient,
  startSearchSpecApp,
  type SearchSpecApp,
} from './support/search-spec-app';

/**
 * FHIR search and REST behaviour clients expect, over real HTTP against PostgreSQL, on an app built by the
 * platform's own bootstrap (createServiceApp: its JSON and form body parsers, its size limit).
 */

const PORT = 4101;

describe('FHIR search and REST behaviour over HTTP', () => {
  let spec: SearchSpecApp;
  const base = `http://127.0.0.1:${PORT}/fhir`;

  beforeAll(async () => {
    spec = await startSearchSpecApp(PORT);
  }, 60_000);

  afterAll(async () => {
    await spec?.close();
  });

  const call: SearchSpecApp['call'] = (method, path, options) => spec.call(method, path, options);
  const create: SearchSpecApp['create'] = (resource, headers) => spec.create(resource, headers);
  const rowCount = (): Promise<number> => spec.rowCount();

  describe('POST [type]/_search', () => {
    beforeAll(async () => {
      await create(patient('Formfield', 'F-1', { gender: 'female' }));
      await create(patient('Formfield', 'F-2', { gender: 'male' }));
      await create(patient('Elsewhere', 'F-3', { gender: 'female' }));
    });

    it('filters by the parameters of a form body, merged with those of the query string', async () => {
      const form = await call<Bundle>('POST', '/Patient/_search', {
        body: 'family=Formfield',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
      });
      expect(form.status).toBe(200);
      expect(form.json.total).toBe(2);
      expect(families(form.json)).toEqual(['Formfield', 'Formfield']);

      const merged = await call<Bundle>('POST', '/Patient/_search?gender=male', {
        body: new URLSearchParams({ family: 'Formfield' }).toString(),
        headers: { 'content-type': 'application/x-www-form-urlencoded; charset=utf-8' },
      });
      expect(merged.status).toBe(200);
      expect(matches(merged.json).map((r) => (r as Patient).identifier?.[0]?.value)).toEqual(['F-2']);
      // the links repeat the applied parameters, so a GET of the next page finds the same matches
      expect(merged.json.link?.find((l) => l.relation === 'self')?.url).toContain('family=Formfield');
    });

    it('refuses a body of another media type instead of searching unfiltered', async () => {
      for (const [type, body] of [
        ['text/plain', 'family=Formfield'],
        ['application/fhir+json', '{"family":"Formfield"}'],
      ]) {
        const answer = await call<OperationOutcome>('POST', '/Patient/_search', {
          body,
          headers: { 'content-type': type },
        });
        expect(answer.status).toBe(415);
        expect(answer.json.resourceType).toBe('OperationOutcome');
      }
    });

    it('answers a malformed or nested form body with a 4xx OperationOutcome', async () => {
      const nested = await call<OperationOutcome>('POST', '/Patient/_search', {
        body: 'family[a]=x&birthdate=notadate',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
      });
      expect(nested.status).toBe(400);
      expect(nested.json.resourceType).toBe('OperationOutcome');
      const huge = await call<OperationOutcome>('POST', '/Patient/_search', {
        body: `family=${'x'.repeat(70_000)}`,
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
      });
      expect(huge.status).toBe(413);
      expect(huge.json.resourceType).toBe('OperationOutcome');
      for (const body of ['family=%00', 'family%00=x']) {
        const unstorable = await call<OperationOutcome>('POST', '/Patient/_search', {
          body,
          headers: { 'content-type': 'application/x-www-form-urlencoded' },
        });
        expect(unstorable.status).toBe(400);
        expect(unstorable.json.resourceType).toBe('OperationOutcome');
      }
      const many = await call<OperationOutcome>('POST', '/Patient/_search', {
        body: Array.from({ length: 1001 }, (_, i) => `p${i}=x`).join('&'),
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
      });
      expect(many.status).toBe(413);
      expect(many.json.resourceType).toBe('OperationOutcome');
      const charset = await call<OperationOutcome>('POST', '/Patient/_search', {
        body: 'family=x',
        headers: { 'content-type': 'application/x-www-form-urlencoded; charset=koi8-r' },
      });
      expect(charset.status).toBe(415);
      expect(charset.json.resourceType).toBe('OperationOutcome');
    });
  });

  describe('unknown search parameters', () => {
    it('ignores them and names them in the outcome entry by default', async () => {
      const answer = await call<Bundle>(
        'GET',
        '/Patient?family=Formfield&shoe-size=42&_include=Patient:link',
      );
      expect(answer.status).toBe(200);
      expect(answer.json.total).toBe(2);
      const [outcome] = matches(answer.json, 'outcome') as OperationOutcome[];
      expect(answer.json.entry?.[0]?.resource).toBe(outcome);
      expect(outcome.issue.map((i) => [i.severity, i.code, i.expression?.[0]])).toEqual([
        ['warning', 'not-supported', 'shoe-size'],
        ['warning', 'not-supported', '_include=Patient:link'],
      ]);
      const self = answer.json.link?.find((l) => l.relation === 'self')?.url ?? '';
      expect(self).not.toContain('shoe-size');
      expect(self).not.toContain('_include');
    });

    it('refuses them with 400 under Prefer: handling=strict', async () => {
      for (const path of ['/Patient?family=Formfield&shoe-size=42', '/Patient?_include=Patient:link']) {
        const answer = await call<OperationOutcome>('GET', path, { headers: { prefer: 'handling=strict' } });
        expect(answer.status).toBe(400);
        expect(answer.json.resourceType).toBe('OperationOutcome');
      }
      const post = await call<OperationOutcome>('POST', '/Patient/_search', {
        body: 'shoe-size=42',
        headers: { 'content-type': 'application/x-www-form-urlencoded', prefer: 'handling=strict' },
      });
      expect(post.status).toBe(400);
      const clean = await call<Bundle>('GET', '/Patient?family=Formfield', {
        headers: { prefer: 'handling=strict' },
      });
      expect(clean.status).toBe(200);
      expect(matches(clean.json, 'outcome')).toEqual([]);
    });
  });

  describe('_sort, _total, _summary, _elements', () => {
    beforeAll(async () => {
      await create(patient('Sortable', 'S-2', { birthDate: '1980-05-05', gender: 'male' }));
      await create(patient('Sortable', 'S-1', { birthDate: '1970-01-01', gender: 'female' }));
      await create(patient('Sortable', 'S-3', { birthDate: '1980-05-05', gender: 'female' }));
    });

    const mrns = (bundle: Bundle) => matches(bundle).map((r) => (r as Patient).identifier?.[0]?.value);

    it('sorts by several keys, descending with -', async () => {
      const answer = await call<Bundle>('GET', '/Patient?family=Sortable&_sort=-birthdate,gender');
      expect(mrns(answer.json)).toEqual(['S-3', 'S-2', 'S-1']);
      const ascending = await call<Bundle>('GET', '/Patient?family=Sortable&_sort=birthdate,-gender');
      expect(mrns(ascending.json)).toEqual(['S-1', 'S-2', 'S-3']);
    });

    it('gives the total unless _total=none', async () => {
      for (const total of ['accurate', 'estimate']) {
        expect((await call<Bundle>('GET', `/Patient?family=Sortable&_total=${total}`)).json.total).toBe(3);
      }
      const none = await call<Bundle>('GET', '/Patient?family=Sortable&_total=none');
      expect(none.json).not.toHaveProperty('total');
      expect(mrns(none.json)).toHaveLength(3);
    });

    it('_summary=count answers the total without entries', async () => {
      const answer = await call<Bundle>('GET', '/Patient?family=Sortable&_summary=count');
      expect(answer.status).toBe(200);
      expect(answer.json.total).toBe(3);
      expect(answer.json.entry ?? []).toEqual([]);
    });

    it('_summary=true and _elements return subsetted resources tagged SUBSETTED', async () => {
      await create(
        patient('Subsetted', 'SUB-1', {
          contact: [{ name: { family: 'Kin' } }],
          text: { status: 'generated', div: '<div xmlns="http://www.w3.org/1999/xhtml">x</div>' },
        }),
      );
      const summary = await call<Bundle>('GET', '/Patient?family=Subsetted&_summary=true');
      const [s] = matches(summary.json) as Patient[];
      expect(s.name?.[0]?.family).toBe('Subsetted');
      expect(s.contact).toBeUndefined();
      expect(s.text).toBeUndefined();
      expect(s.meta?.tag?.map((t) => t.code)).toEqual(['SUBSETTED']);

      const data = await call<Bundle>('GET', '/Patient?family=Subsetted&_summary=data');
      const [d] = matches(data.json) as Patient[];
      expect(d.text).toBeUndefined();
      expect(d.contact).toHaveLength(1);

      const elements = await call<Bundle>('GET', '/Patient?family=Subsetted&_elements=birthDate');
      const [e] = matches(elements.json) as Patient[];
      expect(Object.keys(e).sort()).toEqual(['birthDate', 'id', 'meta', 'resourceType']);
      expect(e.meta?.tag?.map((t) => t.code)).toEqual(['SUBSETTED']);
      expect(elements.json.link?.find((l) => l.relation === 'self')?.url).toContain('_elements=birthDate');

      // the stored resource is whole
      const read = await call<Patient>('GET', `/Patient/${e.id ?? ''}`);
      expect(read.json.contact).toHaveLength(1);
      expect(read.json.meta?.tag).toBeUndefined();

      expect((await call('GET', '/Patient?_summary=maybe')).status).toBe(400);
    });
  });

  describe('_include and _revinclude', () => {
    let ada: Stored<Patient>;
    let bo: Stored<Patient>;
    let aspirin: Stored<Medication>;
    let visit: Stored<Encounter>;
    let order: Stored<ServiceRequest>;
    let prescription: Stored<MedicationRequest>;

    beforeAll(async () => {
      ada = await create(patient('Includable', 'I-1'));
      bo = await create(patient('Includable', 'I-2'));
      aspirin = await create<Medication>({
        resourceType: 'Medication',
        code: { coding: [{ system: 'http://www.nlm.nih.gov/research/umls/rxnorm', code: '1191' }] },
      });
      visit = await create<Encounter>({
        resourceType: 'Encounter',
        status: 'finished',
        class: { system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'AMB' },
        subject: { reference: `Patient/${ada.id}` },
      });
      order = await create<ServiceRequest>({
        resourceType: 'ServiceRequest',
        status: 'active',
        intent: 'order',
        subject: { reference: `Patient/${ada.id}` },
      });
      prescription = await create<MedicationRequest>({
        resourceType: 'MedicationRequest',
        status: 'active',
        intent: 'order',
        medicationReference: { reference: `Medication/${aspirin.id}` },
        subject: { reference: `Patient/${bo.id}` },
      });
    });

    const ids = (resources: Resource[]) => resources.map((r) => `${r.resourceType}/${r.id ?? ''}`).sort();

    it('includes the resources the matches reference, in include mode', async () => {
      const encounters = await call<Bundle>('GET', `/Encounter?_id=${visit.id}&_include=Encounter:subject`);
      expect(ids(matches(encounters.json))).toEqual([`Encounter/${visit.id}`]);
      expect(ids(matches(encounters.json, 'include'))).toEqual([`Patient/${ada.id}`]);
      expect(encounters.json.total).toBe(1); // included resources are not counted

      const byPatient = await call<Bundle>(
        'GET',
        `/Encounter?_id=${visit.id}&_include=Encounter:patient:Patient`,
      );
      expect(ids(matches(byPatient.json, 'include'))).toEqual([`Patient/${ada.id}`]);

      const orders = await call<Bundle>(
        'GET',
        `/ServiceRequest?_id=${order.id}&_include=ServiceRequest:subject`,
      );
      expect(ids(matches(orders.json, 'include'))).toEqual([`Patient/${ada.id}`]);

      const meds = await call<Bundle>(
        'GET',
        `/MedicationRequest?_id=${prescription.id}&_include=MedicationRequest:medication&_include=MedicationRequest:subject`,
      );
      expect(ids(matches(meds.json, 'include'))).toEqual(
        [`Medication/${aspirin.id}`, `Patient/${bo.id}`].sort(),
      );
    });

    it('reverse-includes the resources that reference the matches', async () => {
      const patients = await call<Bundle>(
        'GET',
        `/Patient?family=Includable&_revinclude=Encounter:subject&_revinclude=ServiceRequest:subject&_revinclude=MedicationRequest:subject`,
      );
      expect(ids(matches(patients.json))).toEqual([`Patient/${ada.id}`, `Patient/${bo.id}`].sort());
      expect(ids(matches(patients.json, 'include'))).toEqual(
        [
          `Encounter/${visit.id}`,
          `ServiceRequest/${order.id}`,
          `MedicationRequest/${prescription.id}`,
        ].sort(),
      );
      const medications = await call<Bundle>(
        'GET',
        `/Medication?_id=${aspirin.id}&_revinclude=MedicationRequest:medication`,
      );
      expect(ids(matches(medications.json, 'include'))).toEqual([`MedicationRequest/${prescription.id}`]);
      // only the current page's matches bring their included resources
      const firstPage = await call<Bundle>(
        'GET',
        `/Patient?family=Includable&_sort=_id&_count=1&_revinclude=Encounter:subject`,
      );
      const [first] = matches(firstPage.json);
      expect(ids(matches(firstPage.json, 'include'))).toEqual(
        first.id === ada.id ? [`Encounter/${visit.id}`] : [],
      );
    });

    it('leaves out deleted targets', async () => {
      const temp = await create(patient('Transient', 'I-T'));
      const encounter = await create<Encounter>({
        resourceType: 'Encounter',
        status: 'finished',
        class: { system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'AMB' },
        subject: { reference: `Patient/${temp.id}` },
      });
      expect((await call('DELETE', `/Patient/${temp.id}`)).status).toBe(200);
      const answer = await call<Bundle>('GET', `/Encounter?_id=${encounter.id}&_include=Encounter:subject`);
      expect(matches(answer.json)).toHaveLength(1);
      expect(matches(answer.json, 'include')).toEqual([]);
    });
  });

  describe('conditional create (If-None-Exist)', () => {
    it('creates on no match, answers the existing resource on one match without writing, 412 on several', async () => {
      const body = patient('Conditional', 'C-1');
      const first = await call<Patient>('POST', '/Patient', {
        body,
        headers: { 'if-none-exist': 'identifier=urn:mrn|C-1' },
      });
      expect(first.status).toBe(201);
      const before = await rowCount();
      const retried = await call<Patient>('POST', '/Patient', {
        body,
        headers: { 'if-none-exist': 'Patient?identifier=urn:mrn|C-1' },
      });
      expect(retried.status).toBe(200);
      expect(retried.json.id).toBe(first.json.id);
      expect(retried.headers.get('etag')).toBe('W/"1"');
      expect(await rowCount()).toBe(before);
      const found = await call<Bundle>('GET', '/Patient?identifier=urn:mrn|C-1');
      expect(found.json.total).toBe(1);

      await create(patient('Conditional', 'C-2'));
      const ambiguous = await call<OperationOutcome>('POST', '/Patient', {
        body,
        headers: { 'if-none-exist': 'family=Conditional' },
      });
      expect(ambiguous.status).toBe(412);
      expect(ambiguous.json.resourceType).toBe('OperationOutcome');
      expect(await rowCount()).toBe(before + 1);
    });

    it('creates once when retries with the same condition arrive at the same time', async () => {
      const body = patient('Concurrent', 'CC-1');
      const answers = await Promise.all(
        Array.from({ length: 8 }, () =>
          call<Patient>('POST', '/Patient', {
            body,
            headers: { 'if-none-exist': 'identifier=urn:mrn|CC-1' },
          }),
        ),
      );
      expect(answers.map((a) => a.status).sort()).toEqual([200, 200, 200, 200, 200, 200, 200, 201]);
      expect(new Set(answers.map((a) => a.json.id)).size).toBe(1);
      expect((await call<Bundle>('GET', '/Patient?identifier=urn:mrn|CC-1')).json.total).toBe(1);
    });

    it('refuses a condition that is malformed, unknown or filters nothing, writing nothing', async () => {
      const before = await rowCount();
      for (const condition of ['shoe-size=42', '', '_count=1', 'birthdate=notadate']) {
        const answer = await call<OperationOutcome>('POST', '/Patient', {
          body: patient('Conditional', 'C-9'),
          headers: { 'if-none-exist': condition },
        });
        expect(answer.status).toBe(400);
        expect(answer.json.resourceType).toBe('OperationOutcome');
      }
      expect(await rowCount()).toBe(before);
    });
  });

  describe('DELETE', () => {
    it('keeps history: later reads answer 410, older versions still read, search no longer finds it', async () => {
      const created = await create(patient('Deletable', 'D-1'));
      const updated = await call<Patient>('PUT', `/Patient/${created.id}`, {
        body: { ...created, gender: 'other' },
      });
      expect(updated.status).toBe(200);
      const deleted = await call<OperationOutcome>('DELETE', `/Patient/${created.id}`);
      expect(deleted.status).toBe(200);
      expect(deleted.headers.get('etag')).toBe('W/"3"');

      const gone = await call<OperationOutcome>('GET', `/Patient/${created.id}`);
      expect(gone.status).toBe(410);
      expect(gone.json.resourceType).toBe('OperationOutcome');
      const v1 = await call<Patient>('GET', `/Patient/${created.id}/_history/1`);
      expect(v1.status).toBe(200);
      expect(v1.json.gender).toBe('female');
      expect((await call('GET', `/Patient/${created.id}/_history/3`)).status).toBe(410);

      const search = await call<Bundle>('GET', '/Patient?family=Deletable');
      expect(search.json.total).toBe(0);
      const history = await call<Bundle>('GET', `/Patient/${created.id}/_history`);
      expect(history.json.entry?.map((e) => e.request?.method)).toEqual(['DELETE', 'PUT', 'POST']);
      expect(history.json.entry?.[0]?.resource).toBeUndefined();

      const again = await call<OperationOutcome>('DELETE', `/Patient/${created.id}`);
      expect(again.status).toBe(200);
      expect((await call<Bundle>('GET', `/Patient/${created.id}/_history`)).json.entry).toHaveLength(3);
    });
  });

  describe('Prefer: return', () => {
    it('answers a create or update with no body, an OperationOutcome or the resource, as asked', async () => {
      const minimal = await call('POST', '/Patient', {
        body: patient('Preferring', 'P-1'),
        headers: { prefer: 'return=minimal' },
      });
      expect(minimal.status).toBe(201);
      expect(minimal.text).toBe('');
      const location = minimal.headers.get('location') ?? '';
      expect(location).toMatch(new RegExp(`^${base}/Patient/[^/]+/_history/1$`));
      expect(minimal.headers.get('etag')).toBe('W/"1"');
      const id = location.split('/').at(-3) ?? '';

      const outcome = await call<OperationOutcome>('PUT', `/Patient/${id}`, {
        body: { ...patient('Preferring', 'P-1'), id },
        headers: { prefer: 'return=OperationOutcome' },
      });
      expect(outcome.status).toBe(200);
      expect(outcome.headers.get('etag')).toBe('W/"2"');
      expect(outcome.json.resourceType).toBe('OperationOutcome');
      expect(outcome.json.issue[0]).toMatchObject({ severity: 'information', code: 'informational' });

      const representation = await call<Patient>('PUT', `/Patient/${id}`, {
        body: { ...patient('Preferring', 'P-1'), id, gender: 'male' },
        headers: { prefer: 'return=representation' },
      });
      expect(representation.status).toBe(200);
      expect(representation.json).toMatchObject({ resourceType: 'Patient', id, gender: 'male' });
      expect(representation.json.meta?.versionId).toBe('3');
    });
  });

  describe('validation', () => {
    it('reports every problem of a resource in one OperationOutcome and writes nothing', async () => {
      const before = await rowCount();
      const answer = await call<OperationOutcome>('POST', '/Patient', {
        body: { resourceType: 'Patient', gender: 'robot', birthDate: 'soon', name: [{ family: '' }] },
      });
      expect(answer.status).toBe(400);
      expect(answer.json.issue.map((i) => i.expression?.[0]).sort()).toEqual(
        ['Patient.birthDate', 'Patient.gender', 'Patient.name[0].family'].sort(),
      );
      expect(answer.text).not.toContain('robot');
      expect(await rowCount()).toBe(before);
    });
  });

  it('property: generated hostile searches and conditional creates get 2xx or a 4xx OperationOutcome, never a 5xx; searches write nothing', async () => {
    const names = fc.oneof(
      fc.constantFrom(
        'family',
        'birthdate',
        'identifier',
        'gender:not',
        'name:contains',
        '_sort',
        '_summary',
        '_elements',
        '_include',
        '_revinclude',
        '_count',
        '_total',
        'subject.name',
      ),
      fc.string({ maxLength: 10 }),
    );
    const values = fc.oneof(
      fc.constantFrom(
        "'; DROP TABLE fhir_resource; --",
        '%',
        '_',
        '\\',
        'ge2000',
        'Patient:link',
        'Encounter:subject',
        '-birthdate,_id',
        'count',
        '99999999999',
        '\u0000',
      ),
      fc.string({ maxLength: 24, unit: 'binary' }),
    );
    const query = fc.array(fc.tuple(names, values), { maxLength: 6 });
    const prefer = fc.constantFrom(undefined, 'handling=strict', 'handling=lenient', 'return=minimal');
    const before = await rowCount();
    await fc.assert(
      fc.asyncProperty(query, prefer, fc.constantFrom('GET', 'POST'), async (pairs, preference, method) => {
        const search = new URLSearchParams(pairs).toString();
        const headers: Record<string, string> = preference === undefined ? {} : { prefer: preference };
        const answer =
          method === 'GET'
            ? await call('GET', `/Patient?${search}`, { headers })
            : await call('POST', '/Patient/_search', {
                body: search,
                headers: { ...headers, 'content-type': 'application/x-www-form-urlencoded' },
              });
        expect(answer.status).toBeLessThan(500);
        if (answer.status >= 400) expect(answer.json.resourceType).toBe('OperationOutcome');
        else expect(answer.json.resourceType).toBe('Bundle');
      }),
      { numRuns: 300 },
    );
    expect(await rowCount()).toBe(before);
    // a valid body under a generated condition: created, found, or refused with an OperationOutcome
    await fc.assert(
      fc.asyncProperty(query, async (pairs) => {
        const answer = await call('POST', '/Patient', {
          body: patient('Fuzzed', 'FZ-1'),
          headers: {
            'if-none-exist': new URLSearchParams(pairs).toString(),
            prefer: 'return=OperationOutcome',
          },
        });
        expect([200, 201, 400, 412]).toContain(answer.status);
        expect(answer.json.resourceType).toBe('OperationOutcome');
      }),
      { numRuns: 150 },
    );
  }, 120_000);

  it('declares all of it in the CapabilityStatement', async () => {
    const answer = await call<CapabilityStatement>('GET', '/metadata');
    const rest = answer.json.rest?.[0];
    const of = (type: string) => rest?.resource?.find((r) => r.type === type);
    expect(of('Encounter')?.searchInclude).toEqual(
      expect.arrayContaining(['Encounter:subject', 'Encounter:patient:Patient']),
    );
    expect(of('Patient')?.searchRevInclude).toEqual(
      expect.arrayContaining(['Encounter:subject', 'ServiceRequest:subject', 'MedicationRequest:subject']),
    );
    expect(of('MedicationRequest')?.searchInclude).toEqual(
      expect.arrayContaining(['MedicationRequest:medication']),
    );
    expect(of('Patient')?.searchParam?.map((p) => p.name)).toEqual(
      expect.arrayContaining(['_sort', '_total', '_summary', '_elements', '_count']),
    );
    expect(of('Patient')).toMatchObject({
      conditionalCreate: true,
      conditionalDelete: 'not-supported',
      readHistory: true,
      versioning: 'versioned-update',
    });
    expect(rest?.documentation).toContain('handling=strict');
  });
});
