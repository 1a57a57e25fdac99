import { plainToInstance } from 'class-transformer';
import { IsObject, validateSync, type ValidationError } from 'class-validator';
import type { DiagnosticReport, Encounter, Reference, Resource } from '@medplum/fhirtypes';
import { FhirErrorCode } from '../errors/fhir-error-code';
import { FhirException } from '../errors/fhir-exception';
import { FhirValidator, isValidFhirId } from '../validation/fhir-validator';

/**
 * The consult-findings contract between a consult service and the patient's clinical record. When a remote
 * consult completes, the consult service sends the record the expert's findings (a `DiagnosticReport`)
 * and the consult's virtual `Encounter`, both under ids the consult service minted, so the record keeps
 * them once however often the branch is applied.
 */
export class ConsultFindingsPayload {
  @IsObject() diagnosticReport!: Record<string, unknown>;
  @IsObject() encounter!: Record<string, unknown>;
}

/** A resource that carries its id. */
export type WithId<T extends Resource> = T & { id: string };

/** A consult-findings payload after validation: R4 resources with ids, about one patient. */
export interface ConsultFindings {
  patientId: string;
  diagnosticReport: WithId<DiagnosticReport>;
  encounter: WithId<Encounter>;
}

/** The id in a literal `<type>/<id>` reference, or undefined for any other reference. */
export function referencedId(reference: Reference | undefined, type: string): string | undefined {
  const value = reference?.reference ?? '';
  const prefix = `${type}/`;
  if (!value.startsWith(prefix)) return undefined;
  const id = value.slice(prefix.length);
  return isValidFhirId(id) ? id : undefined;
}

/** The problems of a class-validator run as `field: constraint` lines (never the values). */
function describe(errors: readonly ValidationError[], parent = ''): string[] {
  return errors.flatMap((error) => {
    const path = parent === '' ? error.property : `${parent}.${error.property}`;
    const own = Object.keys(error.constraints ?? {}).map((constraint) => `${path}: ${constraint}`);
    return [...own, ...describe(error.children ?? [], path)];
  });
}

/**
 * The payload's envelope checked against its class-validator class (`whitelist`, no unknown fields):
 * the instance, or a 400 FhirException that names the contract and each field in error.
 */
export function validatePayloadShape<T extends object>(
  contract: string,
  type: new () => T,
  payload: unknown,
): T {
  if (typeof payload !== 'object' || payload === null || Array.isArray(payload)) {
    throw new FhirException(FhirErrorCode.Invalid, `${contract} payload: not a JSON object`);
  }
  const instance = plainToInstance(type, payload);
  const errors = validateSync(instance, { whitelist: true, forbidNonWhitelisted: true });
  if (errors.length > 0) {
    throw new FhirException(FhirErrorCode.Invalid, `${contract} payload: ${describe(errors).join(', ')}`);
  }
  return instance;
}

/** A resource of the payload validated against FHIR R4, with an id; the 400 names the payload field. */
export function payloadResource<T extends Resource>(
  validator: FhirValidator,
  contract: string,
  field: string,
  value: unknown,
  type: T['resourceType'],
): WithId<T> {
  let resource: T;
  try {
    resource = validator.validate<T>(value, type);
  } catch (error) {
    if (error instanceof FhirException) {
      throw new FhirException(FhirErrorCode.Invalid, `${contract} payload: ${field}: ${error.message}`, {
        issues: error.outcome.issue,
        cause: error,
      });
    }
    throw error;
  }
  if (resource.id === undefined || !isValidFhirId(resource.id)) {
    throw new FhirException(FhirErrorCode.Invalid, `${contract} payload: ${field} has no valid id`);
  }
  return resource as WithId<T>;
}

function reject(message: string): never {
  throw new FhirException(FhirErrorCode.Invalid, `consult-findings payload: ${message}`);
}

/**
 * Validates a consult-findings payload as strictly as a FHIR request body: the envelope by its class,
 * each resource against FHIR R4 with its id, both about the same patient, the report naming the
 * encounter, the encounter finished. Throws a 400 FhirException otherwise.
 */
export function parseConsultFindingsPayload(validator: FhirValidator, payload: unknown): ConsultFindings {
  const shape = validatePayloadShape('consult-findings', ConsultFindingsPayload, payload);
  const contract = 'consult-findings';
  const report = payloadResource<DiagnosticReport>(
    validator,
    contract,
    'diagnosticReport',
    shape.diagnosticReport,
    'DiagnosticReport',
  );
  const encounter = payloadResource<Encounter>(
    validator,
    contract,
    'encounter',
    shape.encounter,
    'Encounter',
  );
  const patientId = referencedId(encounter.subject, 'Patient');
  if (patientId === undefined) reject('encounter.subject must reference a Patient');
  if (referencedId(report.subject, 'Patient') !== patientId)
    reject('diagnosticReport.subject must be the patient of the encounter');
  if (referencedId(report.encounter, 'Encounter') !== encounter.id)
    reject('diagnosticReport.encounter must reference the encounter');
  if (encounter.status !== 'finished') reject('encounter.status must be finished');
  return { patientId, diagnosticReport: report, encounter };
}
