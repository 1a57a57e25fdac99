import type { Encounter, Patient, Practitioner, Resource } from '@medplum/fhirtypes';

/**
 * The demo hospital's fixed records (synthetic people). Seeding writes them as idempotent upserts under
 * these ids: the EMR keeps them all; the LIS and the PACS keep copies of the patients, as the record-update
 * workflow would have left them.
 */
const MRN = 'urn:oid:1.2.36.146.595.217.0.1';

/** The hand-written patients the README's examples use; `syntheticPatients` adds the rest of the hospital. */
const namedPatients: Patient[] = [
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

const FAMILIES = [
  'Adeyemi',
  'Becker',
  'Castillo',
  'Dubois',
  'Eriksen',
  'Fischer',
  'García',
  'Horvat',
  'Ivanova',
  'Jensen',
  'Kowalski',
  'Larsen',
  'Mensah',
  'Nakamura',
  'Oliveira',
  'Petrov',
  'Quinn',
  'Rossi',
  'Santos',
  'Tanaka',
  'Usman',
  'Varga',
  'Weber',
  'Xu',
  'Yilmaz',
  'Zhang',
  'Novak',
  'Murphy',
  'Kim',
  'Haddad',
  'Costa',
];
const GIVEN: Record<'female' | 'male', string[]> = {
  female: ['Amara', 'Beatriz', 'Chloé', 'Dana', 'Elif', 'Fatima', 'Greta', 'Hana', 'Ines', 'Julia', 'Kaia'],
  male: ['Ahmed', 'Bruno', 'Carlos', 'David', 'Emil', 'Felix', 'Goran', 'Hugo', 'Ivan', 'Jonas', 'Kenji'],
};

/** How many patients the demo hospital has in all. */
export const DEMO_PATIENT_COUNT = 300;

/**
 * Patients pat-0004… up to DEMO_PATIENT_COUNT: synthetic people from fixed name lists, the same on every
 * run (ids, names, sexes and birth dates are functions of the number), so seeding stays an idempotent upsert.
 */
export function syntheticPatients(count = DEMO_PATIENT_COUNT): Patient[] {
  const patients: Patient[] = [];
  for (let n = namedPatients.length + 1; n <= count; n += 1) {
    const gender = n % 2 === 0 ? 'male' : 'female';
    const given = GIVEN[gender];
    const number = String(n).padStart(4, '0');
    const year = 1935 + ((n * 7) % 85);
    const month = String(1 + ((n * 5) % 12)).padStart(2, '0');
    const day = String(1 + ((n * 11) % 28)).padStart(2, '0');
    patients.push({
      resourceType: 'Patient',
      id: `pat-${number}`,
      identifier: [{ system: MRN, value: `MRN-${number}` }],
      name: [
        { family: FAMILIES[(n * 13) % FAMILIES.length], given: [given[(n * 3) % given.length] ?? 'Alex'] },
      ],
      gender,
      birthDate: `${year}-${month}-${day}`,
    });
  }
  return patients;
}

export const demoPatients: Patient[] = [...namedPatients, ...syntheticPatients()];

/** The departments the demo's practitioners work in, with who works there. */
export const DEMO_DEPARTMENTS = {
  emergency: [
    ['Okonkwo', 'Chidi'],
    ['Svensson', 'Maja'],
  ],
  cardiology: [
    ['Bianchi', 'Luca'],
    ['Mehta', 'Priya'],
  ],
  radiology: [
    ['Schmidt', 'Anna'],
    ['Ali', 'Omar'],
  ],
  laboratory: [
    ['Nowak', 'Ewa'],
    ['Park', 'Min-jun'],
  ],
  icu: [
    ['Laurent', 'Sophie'],
    ['Abara', 'Kwame'],
  ],
  pharmacy: [
    ['Gomez', 'Lucia'],
    ['Walsh', 'Ciaran'],
  ],
} as const;

/** Two practitioners per department, prac-0003…, after the two the README's examples use. */
function departmentPractitioners(): Practitioner[] {
  return Object.entries(DEMO_DEPARTMENTS).flatMap(([department, people], d) =>
    people.map(([family, given], i) => ({
      resourceType: 'Practitioner' as const,
      id: `prac-${String(3 + d * 2 + i).padStart(4, '0')}`,
      name: [{ family, given: [given], prefix: ['Dr.'] }],
      qualification: [{ code: { text: department } }],
    })),
  );
}

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
  ...departmentPractitioners(),
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
