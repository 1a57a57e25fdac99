import type { Encounter, Patient, Practitioner, Resource } from '@medplum/fhirtypes';

/**
 * The demo hospital's fixed records (synthetic people). Seeding writes them as idempotent upserts under
 * these ids: the EMR keeps them all; the LIS and the PACS keep copies of the patients, as the record-update
 * workflow would have left them.
 */
const MRN = 'urn:oid:1.2.36.146.595.217.0.1';

export const demoPatients: Patient[] = [
  {
    resourceType: 'Patient',
    id: 'pat-0001',
    identifier: [{ system: MRN, value: 'MRN-0001' }],
    name: [{ family: 'Okafor', given: ['Adaeze'] }],
    gender: 'female',
    birthDate: '1984-03-12',
  },
  {
    resourceType: 'Patient',
    id: 'pat-0002',
    identifier: [{ system: MRN, value: 'MRN-0002' }],
    name: [{ family: 'Lindqvist', given: ['Erik', 'Johan'] }],
    gender: 'male',
    birthDate: '1957-11-02',
  },
  {
    resourceType: 'Patient',
    id: 'pat-0003',
    identifier: [{ system: MRN, value: 'MRN-0003' }],
    name: [{ family: 'Haddad', given: ['Layla'] }],
    gender: 'female',
    birthDate: '2011-06-25',
  },
];

export const demoPractitioners: Practitioner[] = [
  {
    resourceType: 'Practitioner',
    id: 'prac-0001',
    identifier: [{ system: 'http://hl7.org/fhir/sid/us-npi', value: '1234567893' }],
    name: [{ family: 'Moreau', given: ['Claire'], prefix: ['Dr.'] }],
  },
  {
    resourceType: 'Practitioner',
    id: 'prac-0002',
    identifier: [{ system: 'http://hl7.org/fhir/sid/us-npi', value: '1245319599' }],
    name: [{ family: 'Tanaka', given: ['Hiro'], prefix: ['Dr.'] }],
  },
];

export const demoEncounters: Encounter[] = [
  {
    resourceType: 'Encounter',
    id: 'enc-0001',
    status: 'in-progress',
    class: { system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'AMB', display: 'ambulatory' },
    subject: { reference: 'Patient/pat-0001' },
    participant: [{ individual: { reference: 'Practitioner/prac-0001' } }],
  },
  {
    resourceType: 'Encounter',
    id: 'enc-0002',
    status: 'in-progress',
    class: {
      system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode',
      code: 'IMP',
      display: 'inpatient encounter',
    },
    subject: { reference: 'Patient/pat-0002' },
    participant: [{ individual: { reference: 'Practitioner/prac-0002' } }],
  },
];

/** What each service's database holds after seeding. */
export const demoSeed: Record<'emr' | 'lis' | 'pacs', Resource[]> = {
  emr: [...demoPatients, ...demoPractitioners, ...demoEncounters],
  lis: demoPatients,
  pacs: demoPatients,
};
