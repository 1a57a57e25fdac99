import type { CodeableConcept, Parameters, ParametersParameter } from '@medplum/fhirtypes';
import { FhirValidator, referencedId } from '@hospital/fhir';
import { ConsultsErrorCode, ConsultsException } from './consults.exception';

/**
 * What an expert sends to complete a consult (`POST /fhir/ServiceRequest/:id/$complete`), as the FHIR
 * `Parameters` of the operation:
 * - `conclusion` (valueString, 1..1): the findings' clinical conclusion;
 * - `conclusionCode` (valueCodeableConcept, 0..*): coded findings (SNOMED CT, ICD-10…);
 * - `code` (valueCodeableConcept, 0..1): the report's kind, LOINC 11488-4 "Consult note" by default;
 * - `recommendation` (valueString, 1..1): the recommendations for the referring site;
 * - `session` (valueReference, 0..1): the virtual session `Encounter/<id>`; by default the request's
 *   one open session.
 */
export interface ConsultCompletionRequest {
  conclusion: string;
  conclusionCodes: CodeableConcept[];
  code?: CodeableConcept;
  recommendation: string;
  sessionId?: string;
}

type ValueKind = 'valueString' | 'valueCodeableConcept' | 'valueReference';

/** Each parameter's value type and how often it may appear. */
const PARAMETERS: Readonly<Record<string, { value: ValueKind; required: boolean; repeats: boolean }>> = {
  conclusion: { value: 'valueString', required: true, repeats: false },
  conclusionCode: { value: 'valueCodeableConcept', required: false, repeats: true },
  code: { value: 'valueCodeableConcept', required: false, repeats: false },
  recommendation: { value: 'valueString', required: true, repeats: false },
  session: { value: 'valueReference', required: false, repeats: false },
};

function invalid(message: string, expression: string[] = []): ConsultsException {
  return new ConsultsException(ConsultsErrorCode.InvalidCompletion, message, expression);
}

function text(value: string | undefined, name: string, maxChars: number): string {
  const trimmed = (value ?? '').trim();
  if (trimmed === '') throw invalid(`Parameter ${name} must not be empty`, [name]);
  if (trimmed.length > maxChars) throw invalid(`Parameter ${name} exceeds ${maxChars} characters`, [name]);
  return trimmed;
}

/**
 * Validates a completion body: a FHIR R4 `Parameters` resource (400 from the validator otherwise) holding
 * only the parameters above, each with its value type, the required ones once, texts non-empty and at
 * most `maxChars` long. Throws a 400 (`invalid-completion`) naming the parameter, never its value.
 */
export function parseConsultCompletion(
  validator: FhirValidator,
  body: unknown,
  maxChars: number,
): ConsultCompletionRequest {
  const parameters = validator.validate<Parameters>(body, 'Parameters');
  const byName = new Map<string, ParametersParameter[]>();
  for (const parameter of parameters.parameter ?? []) {
    const spec = PARAMETERS[parameter.name ?? ''];
    if (spec === undefined) throw invalid(`Unknown parameter ${parameter.name ?? '(no name)'}`, ['name']);
    if (
      parameter[spec.value] === undefined ||
      parameter.part !== undefined ||
      parameter.resource !== undefined
    )
      throw invalid(`Parameter ${parameter.name} must carry ${spec.value}`, [parameter.name ?? '']);
    byName.set(parameter.name ?? '', [...(byName.get(parameter.name ?? '') ?? []), parameter]);
  }
  for (const [name, spec] of Object.entries(PARAMETERS)) {
    const count = byName.get(name)?.length ?? 0;
    if (spec.required && count === 0) throw invalid(`Parameter ${name} is required`, [name]);
    if (!spec.repeats && count > 1) throw invalid(`Parameter ${name} may appear once`, [name]);
  }
  const one = (name: string): ParametersParameter | undefined => byName.get(name)?.[0];
  const session = one('session')?.valueReference;
  const sessionId = session === undefined ? undefined : referencedId(session, 'Encounter');
  if (session !== undefined && sessionId === undefined)
    throw invalid('Parameter session must reference an Encounter', ['session']);
  const request: ConsultCompletionRequest = {
    conclusion: text(one('conclusion')?.valueString, 'conclusion', maxChars),
    conclusionCodes: (byName.get('conclusionCode') ?? []).map((p) => p.valueCodeableConcept ?? {}),
    recommendation: text(one('recommendation')?.valueString, 'recommendation', maxChars),
  };
  const code = one('code')?.valueCodeableConcept;
  if (code !== undefined) request.code = code;
  if (sessionId !== undefined) request.sessionId = sessionId;
  return request;
}
