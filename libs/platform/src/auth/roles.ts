import { ROLES, type Role } from './principal';
import { parseScopes, type Scope } from './scopes';

const cruds = (...types: string[]) => types.map((t) => `user/${t}.cruds`);

/**
 * What each role may do, as SMART v2 scopes: a token's own `scope` claim is narrowed to these
 * (`intersectScopes`), so a token can ask for less than its role allows, never more. The `/api` admin
 * and transaction routes check the role itself (`@Roles('administrator')`).
 */
export const ROLE_SCOPES: Readonly<Record<Role, readonly string[]>> = {
  clinician: ['user/*.cruds'],
  nurse: ['user/*.rs', 'user/Observation.cu', 'user/Encounter.cu'],
  'lab-technician': [
    'user/Patient.rs',
    ...cruds('ServiceRequest', 'Observation', 'DiagnosticReport', 'Specimen'),
  ],
  radiologist: ['user/Patient.rs', ...cruds('ImagingStudy', 'ServiceRequest', 'DiagnosticReport')],
  pharmacist: [
    'user/Patient.rs',
    ...cruds(
      'Medication',
      'MedicationRequest',
      'MedicationDispense',
      'MedicationAdministration',
      'MedicationStatement',
      'MedicationKnowledge',
    ),
  ],
  scheduler: ['user/Patient.rs', ...cruds('Schedule', 'Slot', 'Appointment')],
  auditor: ['user/AuditEvent.rs'],
  administrator: ['user/*.rs'],
};

/** The roles that may break the glass: people who treat patients. */
export const CLINICAL_ROLES: readonly Role[] = [
  'clinician',
  'nurse',
  'radiologist',
  'lab-technician',
  'pharmacist',
];

const parsed = new Map<Role, Scope[]>(ROLES.map((role) => [role, parseScopes(ROLE_SCOPES[role])]));

/** The parsed scopes a role allows. */
export function roleScopes(role: Role): readonly Scope[] {
  return parsed.get(role) ?? [];
}

export function isRole(value: unknown): value is Role {
  return typeof value === 'string' && (ROLES as readonly string[]).includes(value);
}
