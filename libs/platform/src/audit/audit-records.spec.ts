import { plainToInstance } from 'class-transformer';
import { validateSync } from 'class-validator';
import { AuditRecordMessage } from './audit-contract';
import {
  auditOutcomeOf,
  buildAuditRecords,
  fhirInteractionOf,
  patientIdsIn,
  patientsOf,
} from './audit-records';

let counter = 0;
const newId = (): string => `00000000-0000-4000-8000-${String(++counter).padStart(12, '0')}`;
const now = new Date('2026-01-02T03:04:05.678Z');

describe('audit records', () => {
  it('names the FHIR interaction of each FhirController route, and none for metadata', () => {
    expect(fhirInteractionOf('GET', '/fhir/metadata', {})).toBeUndefined();
    expect(fhirInteractionOf('GET', '/api/messages', {})).toBeUndefined();
    expect(fhirInteractionOf('GET', '/fhir/:type/:id', { type: 'Patient', id: 'p1' })).toEqual({
      action: 'R',
      interaction: 'read',
      resourceType: 'Patient',
      resourceId: 'p1',
    });
    expect(fhirInteractionOf('GET', '/fhir/:type', { type: 'Patient' })?.interaction).toBe('search-type');
    expect(fhirInteractionOf('POST', '/fhir/:type/_search', { type: 'Patient' })?.interaction).toBe(
      'search-type',
    );
    expect(fhirInteractionOf('POST', '/fhir/:type', { type: 'Patient' })?.action).toBe('C');
    expect(fhirInteractionOf('PUT', '/fhir/:type/:id', { type: 'Patient', id: 'x' })?.action).toBe('U');
    expect(fhirInteractionOf('DELETE', '/fhir/:type/:id', { type: 'Patient', id: 'x' })?.action).toBe('D');
    expect(fhirInteractionOf('POST', '/fhir', {})).toEqual({ action: 'E', interaction: 'transaction' });
    expect(fhirInteractionOf('GET', '/fhir/AuditEvent', {})).toEqual({
      action: 'R',
      interaction: 'search-type',
      resourceType: 'AuditEvent',
    });
    expect(fhirInteractionOf('GET', '/fhir/AuditEvent/:id', { id: 'e1' })?.interaction).toBe('read');
    expect(
      fhirInteractionOf('GET', '/fhir/:type/:id/_history/:vid', { type: 'A', id: 'b' })?.interaction,
    ).toBe('vread');
    expect(fhirInteractionOf('POST', '/fhir/Consult/:id/$complete', { id: 'c1' })).toEqual({
      action: 'E',
      interaction: '$complete',
      resourceType: 'Consult',
      resourceId: 'c1',
    });
  });

  it('finds the patients of a Patient, a subject, a Bundle and a transaction response', () => {
    expect(patientsOf({ resourceType: 'Patient', id: 'p1' })).toEqual(['p1']);
    expect(patientsOf({ resourceType: 'Observation', subject: { reference: 'Patient/p2' } })).toEqual(['p2']);
    expect(patientsOf({ resourceType: 'Encounter', subject: { reference: 'Group/g' } })).toEqual([]);
    expect(
      patientsOf({
        resourceType: 'Bundle',
        entry: [
          { resource: { resourceType: 'Patient', id: 'a' } },
          { resource: { resourceType: 'Encounter', subject: { reference: 'http://x/fhir/Patient/b' } } },
          { resource: { resourceType: 'ServiceRequest', subject: { reference: 'Patient/a' } } },
          { response: { status: '201', location: 'Patient/c/_history/1' } },
        ],
      }),
    ).toEqual(['a', 'b', 'c']);
    expect(patientsOf('not a resource')).toEqual([]);
    expect(
      patientsOf({
        resourceType: 'AuditEvent',
        entity: [{ what: { reference: 'Patient/q' } }, { what: { reference: 'Observation/o' } }],
      }),
    ).toEqual(['q']);
  });

  it('writes one record per patient a search touched, each valid under the message contract', () => {
    const records = buildAuditRecords(
      {
        service: 'emr',
        action: 'R',
        interaction: 'search-type',
        resourceType: 'Patient',
        status: 200,
        gtid: 'g-1',
        sourceAddress: '10.0.0.7',
        principal: {
          kind: 'user',
          id: 'dr-who',
          role: 'clinician',
          scopes: ['user/Patient.rs'],
          breakTheGlass: { reason: 'unconscious patient' },
        },
        response: {
          resourceType: 'Bundle',
          entry: [
            { resource: { resourceType: 'Patient', id: 'a' } },
            { resource: { resourceType: 'Patient', id: 'b' } },
          ],
        },
      },
      now,
      newId,
    );
    expect(records.map((r) => r.patient)).toEqual(['a', 'b']);
    expect(new Set(records.map((r) => r.id)).size).toBe(2);
    expect(records[0]).toMatchObject({
      recorded: '2026-01-02T03:04:05.678Z',
      actor: { kind: 'user', id: 'dr-who', role: 'clinician' },
      outcome: '0',
      breakTheGlass: 'unconscious patient',
      gtid: 'g-1',
    });
    for (const record of records) {
      expect(
        validateSync(plainToInstance(AuditRecordMessage, record), {
          forbidNonWhitelisted: true,
          whitelist: true,
        }),
      ).toEqual([]);
    }
  });

  it('records a refused or failed access once, without an actor when none was proved', () => {
    const [refused, ...more] = buildAuditRecords(
      {
        service: 'lis',
        action: 'R',
        interaction: 'read',
        resourceType: 'Patient',
        resourceId: 'p9',
        status: 404,
        reason: 'not-found',
        response: { resourceType: 'OperationOutcome' },
      },
      now,
      newId,
    );
    expect(more).toEqual([]);
    expect(refused).toMatchObject({ patient: 'p9', outcome: '4', status: 404, reason: 'not-found' });
    expect(refused.actor).toBeUndefined();
    expect(auditOutcomeOf(503)).toBe('8');
    expect(auditOutcomeOf(201)).toBe('0');
  });

  it('names a created resource by the id the answer gave it', () => {
    const [record] = buildAuditRecords(
      {
        service: 'pharmacy',
        action: 'C',
        interaction: 'create',
        resourceType: 'MedicationDispense',
        status: 201,
        response: { resourceType: 'MedicationDispense', id: 'md-9', subject: { reference: 'Patient/p4' } },
      },
      now,
      newId,
    );
    expect(record).toMatchObject({ resourceId: 'md-9', patient: 'p4' });
  });

  it('takes a failed create’s patient from the request body', () => {
    const [record] = buildAuditRecords(
      {
        service: 'lis',
        action: 'C',
        interaction: 'create',
        resourceType: 'Observation',
        status: 422,
        request: { resourceType: 'Observation', subject: { reference: 'Patient/p3' } },
        response: { resourceType: 'OperationOutcome' },
      },
      now,
      newId,
    );
    expect(record.patient).toBe('p3');
  });

  it('fits a hostile URL into the contract: an absurd id is cut, a NUL byte replaced', () => {
    const records = buildAuditRecords(
      {
        service: 'lis',
        action: 'R',
        interaction: 'read',
        resourceType: 'Patient',
        resourceId: `x\u0000${'9'.repeat(500)}`,
        status: 404,
        reason: 'r'.repeat(5_000),
      },
      now,
      newId,
    );
    expect(records).toHaveLength(1);
    expect(records[0].resourceId).toHaveLength(200);
    expect(records[0].resourceId).not.toContain('\u0000');
    expect(records[0].patient).toBe(records[0].resourceId);
    expect(
      validateSync(plainToInstance(AuditRecordMessage, records[0]), {
        whitelist: true,
        forbidNonWhitelisted: true,
      }),
    ).toEqual([]);
  });

  it('refuses a record the contract does not allow', () => {
    const bad = plainToInstance(AuditRecordMessage, {
      id: 'x',
      recorded: 'yesterday',
      service: '',
      action: 'Z',
      interaction: 'read',
      outcome: '1',
      status: 99,
      extra: 1,
    });
    const errors = validateSync(bad, { whitelist: true, forbidNonWhitelisted: true }).map((e) => e.property);
    expect(errors).toEqual(
      expect.arrayContaining(['id', 'recorded', 'service', 'action', 'outcome', 'status', 'extra']),
    );
  });

  it('reads an operation route whose `$` Nest escapes, and plain patient fields of routes outside FHIR', () => {
    expect(fhirInteractionOf('POST', '/fhir/ServiceRequest/:id/\\$complete', { id: 's1' })).toEqual({
      action: 'E',
      interaction: '$complete',
      resourceType: 'ServiceRequest',
      resourceId: 's1',
    });
    expect(patientIdsIn([{ patientId: 'a' }, { patientId: null }, { patientId: 'a' }], 'patientId')).toEqual([
      'a',
    ]);
    expect(patientIdsIn({ total: 2, alerts: [{ patientId: 'b' }, { patientId: 'c' }] }, 'patientId')).toEqual(
      ['b', 'c'],
    );
    expect(patientIdsIn({ patientId: 'd' }, 'patientId')).toEqual(['d']);
    expect(patientIdsIn(undefined, 'patientId')).toEqual([]);
    const records = buildAuditRecords(
      { service: 'icu-monitor', action: 'R', interaction: 'bed-list', status: 200, patients: ['x', 'y'] },
      now,
      newId,
    );
    expect(records.map((r) => r.patient)).toEqual(['x', 'y']);
  });
});
