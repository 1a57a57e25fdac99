import fc from 'fast-check';
import type { Patient } from '@medplum/fhirtypes';
import { FhirErrorCode } from '../errors/fhir-error-code';
import { FhirException } from '../errors/fhir-exception';
import { FhirValidator } from './fhir-validator';

const validator = new FhirValidator();

function rejection(body: unknown, expectedType?: string): FhirException {
  try {
    validator.validate(body, expectedType);
  } catch (error) {
    if (error instanceof FhirException) return error;
    throw new Error(`expected a FhirException, got ${String(error)}`);
  }
  throw new Error('expected the body to be rejected');
}

const secret = 'Zebediah-Quarrington-7731';

describe('FhirValidator', () => {
  beforeAll(() => validator.warmUp(['Patient']), 30_000);

  it('accepts a valid Patient and returns it typed', () => {
    const body = {
      resourceType: 'Patient',
      id: 'p-1',
      identifier: [{ system: 'urn:oid:1.2.36.146.595.217.0.1', value: '12345' }],
      name: [{ family: 'Chalmers', given: ['Peter', 'James'] }],
      gender: 'male',
      birthDate: '1974-12-25',
    };
    const patient = validator.validate<Patient>(body, 'Patient');
    expect(patient.name?.[0]?.family).toBe('Chalmers');
  });

  it('reports every problem of a resource in one OperationOutcome, each with its element', () => {
    const error = rejection(
      {
        resourceType: 'Patient',
        gender: 'robot', // outside the required value set
        birthDate: 'yesterday', // not a date
        name: [{ family: '' }], // empty string
        telecom: [], // empty array
        shoeSize: 42, // not an element of Patient
      },
      'Patient',
    );
    expect(error.status).toBe(400);
    const located = error.outcome.issue.map((issue) => issue.expression?.[0]);
    expect(located).toEqual(
      expect.arrayContaining([
        'Patient.gender',
        'Patient.birthDate',
        'Patient.name[0].family',
        'Patient.telecom',
        'Patient.shoeSize',
      ]),
    );
    expect(error.outcome.issue.every((issue) => issue.severity === 'error')).toBe(true);
    expect(error.outcome.issue.every((issue) => (issue.expression?.length ?? 0) > 0)).toBe(true);
  });

  it.each([
    ['null', null],
    ['an array', [{ resourceType: 'Patient' }]],
    ['a string', 'Patient'],
    ['a number', 42],
  ])('rejects %s as the body', (_label, body) => {
    const error = rejection(body);
    expect(error.code).toBe(FhirErrorCode.Invalid);
    expect(error.status).toBe(400);
    expect(error.outcome.resourceType).toBe('OperationOutcome');
  });

  it('rejects a missing or unknown resourceType without echoing it', () => {
    expect(rejection({ gender: 'male' }).outcome.issue[0].expression).toEqual(['resourceType']);
    const unknown = rejection({ resourceType: secret });
    expect(unknown.code).toBe(FhirErrorCode.Invalid);
    expect(JSON.stringify(unknown.outcome)).not.toContain(secret);
    expect(rejection({ resourceType: 'DomainResource' }).code).toBe(FhirErrorCode.Invalid);
  });

  it('rejects a resource of another type than expected', () => {
    const error = rejection(
      { resourceType: 'Encounter', status: 'planned', class: { code: 'AMB' } },
      'Patient',
    );
    expect(error.outcome.issue[0].diagnostics).toBe('Expected a Patient resource, got Encounter');
  });

  it('carries medplum structure issues with their paths and never the values', () => {
    const error = rejection({
      resourceType: 'Patient',
      name: [{ family: 12345 }],
      birthDate: secret,
      nickname: secret,
      managingOrganization: { reference: `${secret}/x` },
    });
    const expressions = error.outcome.issue.flatMap((issue) => issue.expression ?? []);
    expect(expressions).toEqual(
      expect.arrayContaining(['Patient.name[0].family', 'Patient.birthDate', 'Patient.nickname']),
    );
    expect(error.outcome.issue.every((issue) => ['structure', 'invalid'].includes(issue.code))).toBe(true);
    expect(JSON.stringify(error.outcome)).not.toContain(secret);
    expect(JSON.stringify(error.outcome)).not.toContain('12345');
  });

  it.each([
    ['Patient.gender', { resourceType: 'Patient', gender: 'x' }],
    ['Encounter.status', { resourceType: 'Encounter', status: 'bogus', class: { code: 'AMB' } }],
    [
      'ServiceRequest.status',
      {
        resourceType: 'ServiceRequest',
        status: 'maybe',
        intent: 'order',
        subject: { reference: 'Patient/1' },
      },
    ],
    [
      'ServiceRequest.intent',
      {
        resourceType: 'ServiceRequest',
        status: 'active',
        intent: 'wish',
        subject: { reference: 'Patient/1' },
      },
    ],
    [
      'Patient.contained[0].gender',
      { resourceType: 'Patient', contained: [{ resourceType: 'Patient', id: 'c', gender: 'x' }] },
    ],
  ])('rejects a code outside the required value set at %s', (path, body) => {
    const error = rejection(body);
    expect(error.outcome.issue).toEqual([
      expect.objectContaining({ severity: 'error', code: 'code-invalid', expression: [path] }),
    ]);
  });

  it('accepts every code of a required value set', () => {
    for (const gender of ['male', 'female', 'other', 'unknown']) {
      expect(validator.validate({ resourceType: 'Patient', gender }).resourceType).toBe('Patient');
    }
    expect(
      validator.validate({ resourceType: 'Encounter', status: 'in-progress', class: { code: 'AMB' } })
        .resourceType,
    ).toBe('Encounter');
  });

  it('checks required bindings inside transaction bundle entries', () => {
    const error = rejection({
      resourceType: 'Bundle',
      type: 'transaction',
      entry: [
        { request: { method: 'POST', url: 'Patient' }, resource: { resourceType: 'Patient', gender: 'x' } },
      ],
    });
    expect(error.outcome.issue[0].expression).toEqual(['Bundle.entry[0].resource.gender']);
  });

  it('rejects empty strings, empty arrays, bad ids and conflicting choice types', () => {
    expect(rejection({ resourceType: 'Patient', birthDate: '' }).outcome.issue[0].expression).toEqual([
      'Patient.birthDate',
    ]);
    expect(rejection({ resourceType: 'Patient', name: [] }).outcome.issue[0].expression).toEqual([
      'Patient.name',
    ]);
    expect(rejection({ resourceType: 'Patient', id: 'a b' }).outcome.issue[0].expression).toEqual([
      'Patient.id',
    ]);
    expect(
      rejection({ resourceType: 'Patient', multipleBirthBoolean: true, multipleBirthInteger: 2 }).outcome
        .issue[0].severity,
    ).toBe('error');
  });

  it('rejects an object where a primitive belongs, empty or not, naming the element', () => {
    for (const birthDate of [{}, { value: '1970-01-01' }, []]) {
      const error = rejection({ resourceType: 'Patient', birthDate }, 'Patient');
      expect(error.outcome.issue.map((issue) => issue.expression?.[0])).toEqual(
        expect.arrayContaining([expect.stringMatching(/^Patient\.birthDate/)]),
      );
    }
    const empty = rejection({ resourceType: 'Patient', name: [{}] }, 'Patient');
    expect(empty.outcome.issue.map((issue) => issue.expression?.[0])).toContain('Patient.name[0]');
  });

  it('rejects a meta that is not a Meta, naming it', () => {
    for (const meta of [0, 'x', true, [], { tag: 'x' }, { profile: [7] }]) {
      const error = rejection({ resourceType: 'Patient', meta }, 'Patient');
      expect(error.outcome.issue.map((issue) => issue.expression?.[0])).toEqual(
        expect.arrayContaining([expect.stringMatching(/^Patient\.meta/)]),
      );
    }
  });

  it('rejects strings PostgreSQL cannot store (NUL, unpaired surrogates)', () => {
    expect(
      rejection({ resourceType: 'Patient', name: [{ family: 'a\u0000b' }] }).outcome.issue[0].expression,
    ).toEqual(['Patient.name[0].family']);
    expect(rejection({ resourceType: 'Patient', name: [{ family: 'a\ud800b' }] }).code).toBe(
      FhirErrorCode.Invalid,
    );
    expect(validator.validate({ resourceType: 'Patient', name: [{ family: 'Emoji 😀' }] }).resourceType).toBe(
      'Patient',
    );
  });

  it('rejects deeply nested bodies with a FhirException', () => {
    let extension: Record<string, unknown> = { url: 'http://example.org/x', valueString: 'leaf' };
    for (let i = 0; i < 5000; i++) extension = { url: 'http://example.org/x', extension: [extension] };
    const error = rejection({ resourceType: 'Patient', extension: [extension], gender: 'x' });
    expect(error.code).toBe(FhirErrorCode.Invalid);
  });

  describe('property: malformed input', () => {
    const resourceTypes = fc.constantFrom('Patient', 'Encounter', 'ServiceRequest', 'Bundle', 'Observation');
    const malformedResource = fc
      .tuple(
        resourceTypes,
        fc.dictionary(fc.string({ maxLength: 12 }), fc.jsonValue({ maxDepth: 3 }), { minKeys: 1 }),
      )
      .map(([resourceType, fields]) => ({ ...fields, resourceType }));
    const anything = fc.oneof(fc.jsonValue({ maxDepth: 4 }), malformedResource, fc.anything());

    it('either returns the body or throws a FhirException carrying an OperationOutcome', () => {
      fc.assert(
        fc.property(anything, (body) => {
          try {
            const result = validator.validate(body);
            expect(result).toBe(body);
          } catch (error) {
            expect(error).toBeInstanceOf(FhirException);
            const exception = error as FhirException;
            expect(exception.status).toBe(400);
            expect(exception.outcome.resourceType).toBe('OperationOutcome');
            expect(exception.outcome.issue.length).toBeGreaterThan(0);
          }
        }),
        { numRuns: 500 },
      );
    });

    it('never echoes a string value of the body in the outcome', () => {
      const marker = fc.stringMatching(/^[A-Z][a-z]{6,10}[0-9]{3}$/);
      fc.assert(
        fc.property(
          resourceTypes,
          marker,
          fc.constantFrom('gender', 'birthDate', 'status', 'id', 'text'),
          (type, value, key) => {
            try {
              validator.validate({ resourceType: type, [key]: value, name: value });
            } catch (error) {
              expect(JSON.stringify((error as FhirException).outcome)).not.toContain(value);
            }
          },
        ),
        { numRuns: 200 },
      );
    });
  });
});
