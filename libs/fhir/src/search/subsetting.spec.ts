import type { Patient } from '@medplum/fhirtypes';
import { SUBSETTED_TAG, subsetResource } from './subsetting';

const patient: Patient & { _birthDate?: unknown } = {
  resourceType: 'Patient',
  id: 'p1',
  meta: { versionId: '2', lastUpdated: '2026-01-01T00:00:00.000Z', tag: [{ system: 'urn:x', code: 'keep' }] },
  text: { status: 'generated', div: '<div xmlns="http://www.w3.org/1999/xhtml">Ada</div>' },
  identifier: [{ system: 'urn:mrn', value: 'H-1' }],
  name: [{ family: 'Okafor' }],
  gender: 'female',
  birthDate: '1990-01-01',
  _birthDate: { extension: [{ url: 'urn:ext', valueString: 'x' }] },
  deceasedBoolean: false,
  contact: [{ name: { family: 'Next' } }],
  communication: [{ language: { text: 'English' } }],
};

describe('subsetResource', () => {
  it('returns the resource unchanged without _summary or _elements', () => {
    expect(subsetResource(patient, {})).toBe(patient);
  });

  it('_summary=true keeps the summary elements and tags the result SUBSETTED', () => {
    const summary = subsetResource(patient, { summary: 'true' });
    expect(Object.keys(summary).sort()).toEqual(
      [
        'resourceType',
        'id',
        'meta',
        'identifier',
        'name',
        'gender',
        'birthDate',
        '_birthDate',
        'deceasedBoolean',
      ].sort(),
    );
    expect(summary.meta?.tag).toEqual([{ system: 'urn:x', code: 'keep' }, SUBSETTED_TAG]);
    expect(summary.meta?.versionId).toBe('2');
    expect(patient.meta?.tag).toHaveLength(1); // the stored resource is not changed
  });

  it('_summary=data drops text only; _summary=text keeps text and mandatory elements', () => {
    const data = subsetResource(patient, { summary: 'data' });
    expect(data.text).toBeUndefined();
    expect(data.contact).toEqual(patient.contact);
    const text = subsetResource(patient, { summary: 'text' });
    expect(Object.keys(text).sort()).toEqual(['id', 'meta', 'resourceType', 'text']);
  });

  it('_elements keeps the listed elements (choice elements by their base name), id and meta', () => {
    const subset = subsetResource(patient, { elements: ['birthDate', 'deceased'] });
    expect(subset).toEqual({
      resourceType: 'Patient',
      id: 'p1',
      meta: { ...patient.meta, tag: [{ system: 'urn:x', code: 'keep' }, SUBSETTED_TAG] },
      birthDate: '1990-01-01',
      _birthDate: patient._birthDate,
      deceasedBoolean: false,
    });
  });
});
