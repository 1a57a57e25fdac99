import type { Principal } from '../auth/principal';
import type { AuditRecord } from './audit-record';

export type AuditAction = AuditRecord['action'];

/** What a route did, as the audit trail names it: the FHIR interaction (or the route's own name) and action. */
export interface AuditedInteraction {
  action: AuditAction;
  interaction: string;
  resourceType?: string;
  resourceId?: string;
}

/** One request and its answer, as the audit trail sees them (framework-free: the interceptor fills it). */
export interface AuditedAccess extends AuditedInteraction {
  service: string;
  /** The request body (a write's resource, a transaction Bundle) when there is one. */
  request?: unknown;
  /** The answer's body: a resource, a Bundle, an OperationOutcome, or nothing. */
  response?: unknown;
  status: number;
  principal?: Principal;
  gtid?: string;
  sourceAddress?: string;
  /** Why the request failed or was refused (an error's code or message: never patient data). */
  reason?: string;
  /** Patients the route names outside FHIR references (`patientIdsIn`), added to those found in FHIR. */
  patients?: readonly string[];
}

/** AuditEvent.outcome of an HTTP status: 0 success, 4 minor failure (refused, bad request), 8 serious. */
export function auditOutcomeOf(status: number): AuditRecord['outcome'] {
  if (status < 400) return '0';
  return status < 500 ? '4' : '8';
}

/**
 * The FHIR interaction of a route of `FhirController` (or of any route under `/fhir`), from its method and
 * Express path template; `undefined` for routes that touch no patient data (`/fhir/metadata`) and for
 * routes outside `/fhir`.
 */
export function fhirInteractionOf(
  method: string,
  routePath: string,
  params: Readonly<Record<string, string | undefined>>,
): AuditedInteraction | undefined {
  // Nest route templates escape a literal `$` (`ServiceRequest/:id/\\$complete`).
  const path = routePath.replace(/\\/g, '').replace(/\/+$/, '');
  if (!/^\/fhir(\/|$)/.test(path)) return undefined;
  // A route may name its type literally (`AuditEvent/:id`): it has the shape of `:type/:id`.
  const segments = path
    .slice('/fhir'.length)
    .split('/')
    .filter((s) => s !== '');
  const literalType =
    segments[0] !== undefined && /^[A-Z][A-Za-z]+$/.test(segments[0]) ? segments[0] : undefined;
  if (literalType !== undefined) segments[0] = ':type';
  const rest = segments.map((s) => `/${s}`).join('');
  const type = params.type ?? literalType;
  const id = params.id;
  const on = (action: AuditAction, interaction: string): AuditedInteraction => ({
    action,
    interaction,
    ...(type === undefined ? {} : { resourceType: type }),
    ...(id === undefined ? {} : { resourceId: id }),
  });
  switch (`${method.toUpperCase()} ${rest}`) {
    case 'GET /metadata':
      return undefined;
    case 'POST ':
      return on('E', 'transaction');
    case 'GET /:type':
    case 'POST /:type/_search':
      return on('R', 'search-type');
    case 'POST /:type':
      return on('C', 'create');
    case 'GET /:type/:id':
      return on('R', 'read');
    case 'PUT /:type/:id':
      return on('U', 'update');
    case 'DELETE /:type/:id':
      return on('D', 'delete');
    case 'GET /:type/:id/_history':
      return on('R', 'history-instance');
    case 'GET /:type/:id/_history/:vid':
      return on('R', 'vread');
  }
  // An operation (`$everything`, `$complete`…) or a route of the service's own under /fhir.
  const operation = segments.find((s) => s.startsWith('$'));
  return on(method.toUpperCase() === 'GET' ? 'R' : 'E', operation ?? 'operation');
}

const PATIENT_REFERENCE = /(?:^|\/)Patient\/([A-Za-z0-9\-.]{1,64})(?:\/_history\/[^/]*)?$/;
/** Elements that name the patient a resource is about (R4: subject, patient, beneficiary, for). */
const PATIENT_ELEMENTS = ['subject', 'patient', 'beneficiary', 'for'] as const;

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function patientOfReference(value: unknown): string | undefined {
  if (!isObject(value) || typeof value.reference !== 'string') return undefined;
  return PATIENT_REFERENCE.exec(value.reference)?.[1];
}

/**
 * The patients a resource is about: a Patient itself, the subject (or patient, beneficiary, `for`) of any
 * other resource, the patient entities of an AuditEvent, and for a Bundle those of every entry's resource (and a transaction response's
 * `Patient/…` locations). Each patient once, in the order found.
 */
export function patientsOf(resource: unknown): string[] {
  const found = new Set<string>();
  const visit = (value: unknown, depth: number): void => {
    if (!isObject(value) || depth > 2) return;
    if (value.resourceType === 'Bundle' && Array.isArray(value.entry)) {
      for (const entry of value.entry) {
        if (!isObject(entry)) continue;
        visit(entry.resource, depth + 1);
        const location = isObject(entry.response) ? entry.response.location : undefined;
        const located = patientOfReference({ reference: location });
        if (located !== undefined) found.add(located);
      }
      return;
    }
    if (value.resourceType === 'Patient' && typeof value.id === 'string') found.add(value.id);
    // An AuditEvent names its patient as an entity (an auditor's search shows whose accesses it read).
    if (value.resourceType === 'AuditEvent' && Array.isArray(value.entity))
      for (const entity of value.entity) {
        const patient = isObject(entity) ? patientOfReference(entity.what) : undefined;
        if (patient !== undefined) found.add(patient);
      }
    for (const element of PATIENT_ELEMENTS) {
      const patient = patientOfReference(value[element]);
      if (patient !== undefined) found.add(patient);
    }
  };
  visit(resource, 0);
  return [...found];
}

/**
 * The patient ids a route outside FHIR carries in a plain field (`patientId`): in the object itself, in
 * the items of an array it is, or in the items of its array properties (a page of alerts). Each once.
 */
export function patientIdsIn(value: unknown, field: string): string[] {
  const found = new Set<string>();
  const take = (item: unknown): void => {
    if (isObject(item) && typeof item[field] === 'string' && item[field] !== '') found.add(item[field]);
  };
  if (Array.isArray(value)) value.forEach(take);
  else if (isObject(value)) {
    take(value);
    for (const property of Object.values(value)) if (Array.isArray(property)) property.forEach(take);
  }
  return [...found];
}

/**
 * The audit records of one access: one per patient it touched (a search: every patient its Bundle holds, as
 * IHE BALP asks), or a single record naming no patient when it touched none (a search that found nothing, a
 * request refused before any data was read). Patients come from the answer when it holds resources, else
 * from the request's body, and a Patient's own id from the URL.
 */
export function buildAuditRecords(access: AuditedAccess, now: Date, newId: () => string): AuditRecord[] {
  const patients = new Set<string>(patientsOf(access.response));
  if (patients.size === 0) for (const p of patientsOf(access.request)) patients.add(p);
  if (access.resourceType === 'Patient' && access.resourceId !== undefined) patients.add(access.resourceId);
  for (const patient of access.patients ?? []) patients.add(patient);
  const principal = access.principal;
  // A create names its resource only in the answer: the stored resource and the id the server gave it.
  const answered =
    isObject(access.response) &&
    access.response.resourceType === access.resourceType &&
    typeof access.response.id === 'string'
      ? access.response.id
      : undefined;
  const resourceId = access.resourceId ?? answered;
  // Every text fits the message contract (`AuditRecordMessage`), so that no caller can make its own access
  // unrecordable with an absurd id or a NUL byte (which PostgreSQL refuses in JSON).
  const short = (value: string | undefined): string | undefined => fit(value, AUDIT_SHORT_TEXT);
  const long = (value: string | undefined): string | undefined => fit(value, AUDIT_LONG_TEXT);
  const base: Omit<AuditRecord, 'id' | 'patient'> = {
    recorded: now.toISOString(),
    service: access.service,
    ...(principal === undefined
      ? {}
      : {
          actor: {
            kind: principal.kind,
            id: short(principal.id) ?? '?',
            ...optional('name', short(principal.name)),
            ...(principal.role === undefined ? {} : { role: principal.role }),
          },
        }),
    action: access.action,
    interaction: short(access.interaction) ?? '?',
    ...optional('resourceType', short(access.resourceType)),
    ...optional('resourceId', short(resourceId)),
    ...optional('gtid', short(access.gtid)),
    outcome: auditOutcomeOf(access.status),
    status: access.status,
    ...optional('reason', long(access.reason)),
    ...optional('sourceAddress', short(access.sourceAddress)),
    ...optional('breakTheGlass', long(principal?.breakTheGlass?.reason)),
  };
  if (patients.size === 0) return [{ id: newId(), ...base }];
  return [...patients].map((patient) => ({ id: newId(), ...base, patient: short(patient) ?? '?' }));
}

/** The longest id-like and free texts of a record (the contract's limits). */
export const AUDIT_SHORT_TEXT = 200;
export const AUDIT_LONG_TEXT = 1_000;

/** A text cut to `max` characters, NUL bytes replaced; `undefined` stays absent. */
function fit(value: string | undefined, max: number): string | undefined {
  if (value === undefined || value === '') return undefined;
  const clean = value.replaceAll('\u0000', '\uFFFD');
  return clean.length <= max ? clean : `${clean.slice(0, max - 1)}…`;
}

function optional<K extends string>(key: K, value: string | undefined): { [P in K]?: string } {
  return (value === undefined ? {} : { [key]: value }) as { [P in K]?: string };
}
