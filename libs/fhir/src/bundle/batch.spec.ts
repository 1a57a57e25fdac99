import type { Patient } from '@medplum/fhirtypes';
import { FhirErrorCode } from '../errors/fhir-error-code';
import { FhirException, operationOutcome } from '../errors/fhir-exception';
import type { Stored } from '../store/fhir-resource-store';
import { FhirValidator } from '../validation/fhir-validator';
import { batchResponseBundle, isBatchBundle, parseBatchBundle, type BatchEntry } from './batch';

const validator = new FhirValidator();

const patient = (family: string): Patient => ({ resourceType: 'Patient', name: [{ family }] });

const batch = (entry: unknown[]): unknown => ({ resourceType: 'Bundle', type: 'batch', entry });

function errorOf(entry: BatchEntry): FhirException {
  if (!('error' in entry)) throw new Error('expected an entry error');
  return entry.error;
}

describe('batch Bundle', () => {
  it('recognises a batch by its type only', () => {
    expect(isBatchBundle({ resourceType: 'Bundle', type: 'batch' })).toBe(true);
    expect(isBatchBundle({ resourceType: 'Bundle', type: 'transaction' })).toBe(false);
    expect(isBatchBundle([{ resourceType: 'Bundle', type: 'batch' }])).toBe(false);
  });

  it('reads each entry’s request and leaves the resource for the write that runs it', () => {
    const entries = parseBatchBundle(
      validator,
      batch([
        { resource: patient('Okafor'), request: { method: 'POST', url: 'Patient' } },
        {
          resource: { ...patient('Ng'), id: 'p1' },
          request: { method: 'PUT', url: 'Patient/p1', ifMatch: 'W/"2"' },
        },
      ]),
    );
    expect(entries).toEqual([
      { method: 'POST', resourceType: 'Patient', resource: patient('Okafor') },
      {
        method: 'PUT',
        resourceType: 'Patient',
        id: 'p1',
        resource: { ...patient('Ng'), id: 'p1' },
        ifMatch: 'W/"2"',
      },
    ]);
  });

  it('gives a malformed entry its own error and keeps the others', () => {
    const entries = parseBatchBundle(
      validator,
      batch([
        {
          resource: { resourceType: 'Patient', gender: 'sometimes' },
          request: { method: 'POST', url: 'Patient' },
        },
        { resource: patient('A'), request: { method: 'DELETE', url: 'Patient/p1' } },
        { resource: patient('B'), request: { method: 'POST', url: 'Observation' } },
        { resource: patient('C'), request: { method: 'PUT', url: 'Patient' } },
        { request: { method: 'POST', url: 'Patient' } },
        { resource: patient('D'), request: { method: 'POST', url: 'Patient', ifNoneExist: 'name=D' } },
      ]),
    );
    // The first entry's resource is invalid FHIR, but that is for its create to find out.
    expect(entries[0]).toMatchObject({ method: 'POST', resourceType: 'Patient' });
    expect(errorOf(entries[1]).code).toBe(FhirErrorCode.MethodNotAllowed);
    expect(entries.slice(2).map((e) => [errorOf(e).code, errorOf(e).expression])).toEqual([
      [FhirErrorCode.Invalid, ['Bundle.entry[2].request.url']],
      [FhirErrorCode.Invalid, ['Bundle.entry[3].request.url']],
      [FhirErrorCode.Invalid, ['Bundle.entry[4].resource']],
      [FhirErrorCode.Invalid, ['Bundle.entry[5].request']],
    ]);
  });

  it.each([
    ['a transaction', { resourceType: 'Bundle', type: 'transaction', entry: [] }],
    ['an entry without a request', batch([{ resource: patient('A') }])],
    [
      'entries that are not a list',
      { resourceType: 'Bundle', type: 'batch', entry: { resource: patient('A') } },
    ],
    ['not a Bundle', patient('A')],
  ])('refuses the whole Bundle for %s', (_name, body) => {
    expect(() => parseBatchBundle(validator, body)).toThrow(FhirException);
  });

  it('answers entry by entry: the stored resource with its location, or the failure with its outcome', () => {
    const stored = {
      resourceType: 'Patient',
      id: 'p1',
      meta: { versionId: '1', lastUpdated: '2025-01-15T10:30:00.000Z' },
    } as Stored<Patient>;
    const outcome = operationOutcome({ code: 'invalid', diagnostics: 'bad' });
    const bundle = batchResponseBundle('https://icu.example/fhir/', [
      { resource: stored, created: true },
      { status: 422, outcome },
    ]);
    expect(bundle).toEqual({
      resourceType: 'Bundle',
      type: 'batch-response',
      entry: [
        {
          fullUrl: 'https://icu.example/fhir/Patient/p1',
          resource: stored,
          response: {
            status: '201 Created',
            location: 'https://icu.example/fhir/Patient/p1/_history/1',
            etag: 'W/"1"',
            lastModified: '2025-01-15T10:30:00.000Z',
          },
        },
        { response: { status: '422 Unprocessable Entity', outcome } },
      ],
    });
  });
});
