import { OperationOutcomeError, validateResource } from '@medplum/core';
import type { OperationOutcomeIssue, Resource } from '@medplum/fhirtypes';
import { isR4ResourceType, loadDefinitionsFor, loadFhirDefinitions } from '../definitions/fhir-definitions';
import { FhirErrorCode } from '../errors/fhir-error-code';
import { FhirException, operationOutcome } from '../errors/fhir-exception';
import { RequiredBindings } from './required-bindings';
import { R4ValueSets } from './value-sets';

/** FHIR `id`: 1 to 64 of A-Z a-z 0-9 - . */
export const FHIR_ID_PATTERN = /^[A-Za-z0-9\-.]{1,64}$/;

export function isValidFhirId(id: string): boolean {
  return FHIR_ID_PATTERN.test(id);
}

const isPlainObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

/**
 * False for strings holding what JSON allows but PostgreSQL's text and jsonb cannot store (NUL, an
 * unpaired surrogate); FHIR strings have no use for either.
 */
export function isStorableString(value: string): boolean {
  return !value.includes('\u0000') && !/[\uD800-\uDFFF]/u.test(value);
}

/** Medplum warnings that FHIR R4 treats as errors. */
const promotedWarnings = [/^Conflicting choice of type properties/];

/**
 * Keeps an issue's severity, code, expression and wording but never a value from the body: medplum
 * quotes some values in its texts (e.g. a reference's target), so quoted parts are blanked, except in
 * the "additional property" text whose quoted part is the property name, already in the expression.
 * Diagnostics survive only as the FHIRPath of a failed invariant.
 */
function sanitizeIssue(issue: OperationOutcomeIssue, promote: boolean): OperationOutcomeIssue {
  const text = issue.details?.text ?? '';
  const safeText = text.startsWith('Invalid additional property') ? text : text.replace(/"[^"]*"/g, '"…"');
  const sanitized: OperationOutcomeIssue = {
    severity: promote ? 'error' : issue.severity,
    code: issue.code === 'processing' ? 'invalid' : issue.code,
    details: { text: safeText || 'Invalid element' },
    diagnostics: safeText || 'Invalid element',
  };
  if (issue.code === 'invariant' && issue.diagnostics !== undefined) {
    try {
      const data = JSON.parse(issue.diagnostics) as { fhirpath?: unknown };
      if (typeof data.fhirpath === 'string') sanitized.diagnostics = `${safeText} (${data.fhirpath})`;
    } catch {
      // diagnostics were not medplum's JSON; keep the text only
    }
  }
  if (issue.expression !== undefined) sanitized.expression = [...issue.expression];
  return sanitized;
}

/** The issues without repeats (the same code, element and text reported by two checks). */
function distinct(issues: OperationOutcomeIssue[]): OperationOutcomeIssue[] {
  const seen = new Set<string>();
  return issues.filter((issue) => {
    const key = JSON.stringify([issue.code, issue.expression, issue.details?.text]);
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

function invalid(message: string, issues: OperationOutcomeIssue[]): FhirException {
  return new FhirException(FhirErrorCode.Invalid, message, { issues });
}

function structureIssue(text: string, expression?: string): OperationOutcomeIssue {
  return operationOutcome({
    code: 'structure',
    details: text,
    diagnostics: text,
    expression: expression === undefined ? undefined : [expression],
  }).issue[0];
}

/**
 * JSON-level rules medplum 4.5.2 lets through: empty strings (only whitespace is caught), empty
 * arrays, empty objects, resource ids that are not FHIR ids, and NUL characters or unpaired surrogates. Iterative, so a deeply nested body cannot overflow.
 */
interface JsonNode {
  value: unknown;
  parent?: JsonNode;
  key: string | number;
}

/** `Patient.name[0].given[1]`: built only for a node with an issue. */
function pathOf(node: JsonNode): string {
  const keys: (string | number)[] = [];
  for (let at: JsonNode | undefined = node; at !== undefined; at = at.parent) keys.push(at.key);
  return keys.reduceRight<string>(
    (path, key) => (typeof key === 'number' ? `${path}[${key}]` : path === '' ? key : `${path}.${key}`),
    '',
  );
}

function jsonIssues(root: Record<string, unknown>, rootPath: string): OperationOutcomeIssue[] {
  const issues: OperationOutcomeIssue[] = [];
  const stack: JsonNode[] = [{ value: root, key: rootPath }];
  while (stack.length > 0 && issues.length < 100) {
    const node = stack.pop() as JsonNode;
    const { value } = node;
    if (typeof value === 'string') {
      if (value === '')
        issues.push(structureIssue('String must contain non-whitespace content', pathOf(node)));
      else if (!isStorableString(value))
        issues.push(structureIssue('String contains a NUL or unpaired surrogate', pathOf(node)));
    } else if (Array.isArray(value)) {
      if (value.length === 0) issues.push(structureIssue('Arrays must not be empty', pathOf(node)));
      for (let i = 0; i < value.length; i++) stack.push({ value: value[i] as unknown, parent: node, key: i });
    } else if (isPlainObject(value)) {
      // FHIR JSON has no empty objects; medplum takes `{}` for any element, a primitive's too.
      if (Object.keys(value).length === 0)
        issues.push(structureIssue('Objects must not be empty', pathOf(node)));
      if (typeof value.resourceType === 'string' && typeof value.id === 'string' && value.id !== '') {
        if (!isValidFhirId(value.id)) issues.push(structureIssue('Invalid id format', `${pathOf(node)}.id`));
      }
      for (const key in value) stack.push({ value: value[key], parent: node, key });
    }
  }
  return issues;
}

/** Meta's elements and what each must be: medplum's validator does not look at a resource's `meta`. */
const META_ELEMENTS: Readonly<Record<string, (value: unknown) => boolean>> = {
  versionId: (v) => typeof v === 'string',
  lastUpdated: (v) => typeof v === 'string',
  source: (v) => typeof v === 'string',
  profile: (v) => Array.isArray(v) && v.every((item) => typeof item === 'string'),
  security: (v) => Array.isArray(v) && v.every(isPlainObject),
  tag: (v) => Array.isArray(v) && v.every(isPlainObject),
  id: (v) => typeof v === 'string',
  extension: (v) => Array.isArray(v) && v.every(isPlainObject),
};

function metaIssues(body: Record<string, unknown>, resourceType: string): OperationOutcomeIssue[] {
  if (!('meta' in body)) return [];
  const meta = body.meta;
  const path = `${resourceType}.meta`;
  if (!isPlainObject(meta)) return [structureIssue('meta must be a JSON object (a Meta)', path)];
  return Object.entries(meta)
    .filter(([name, value]) => !(META_ELEMENTS[name]?.(value) ?? false))
    .map(([name]) =>
      META_ELEMENTS[name] === undefined
        ? structureIssue(`Invalid additional property "${name}"`, `${path}.${name}`)
        : structureIssue('Invalid type for this element of Meta', `${path}.${name}`),
    );
}

/**
 * Validates request bodies against the FHIR R4 definitions (medplum's validator over the base
 * StructureDefinitions, plus required bindings of `code` elements and a few JSON rules medplum
 * skips). Each resource type's definition loads once per process, when a body first holds one (or at
 * `warmUp`, for the types a service serves). Every rejection is a
 * `FhirException` (400) whose OperationOutcome lists the issues by path, never by value.
 */
export class FhirValidator {
  private bindings?: RequiredBindings;

  constructor(private readonly valueSets: () => R4ValueSets = () => R4ValueSets.shared()) {}

  private requiredBindings(): RequiredBindings {
    this.bindings ??= new RequiredBindings(this.valueSets());
    return this.bindings;
  }

  /** Loads the definitions of `resourceTypes` now (e.g. at module init) instead of on the first request. */
  warmUp(resourceTypes: readonly string[]): void {
    loadFhirDefinitions(resourceTypes);
    this.valueSets();
  }

  validate<T extends Resource = Resource>(body: unknown, expectedType?: string): T {
    if (!isPlainObject(body)) {
      throw invalid('Body must be a JSON object holding a FHIR resource', [
        structureIssue('Body must be a JSON object holding a FHIR resource'),
      ]);
    }
    const resourceType = body.resourceType;
    if (typeof resourceType !== 'string' || resourceType === '') {
      throw invalid('Missing resourceType', [structureIssue('Missing resourceType', 'resourceType')]);
    }
    if (!isR4ResourceType(resourceType)) {
      throw invalid('Unknown resourceType', [
        operationOutcome({ code: 'invalid', details: 'Unknown resourceType', expression: ['resourceType'] })
          .issue[0],
      ]);
    }
    if (expectedType !== undefined && resourceType !== expectedType) {
      const text = `Expected a ${expectedType} resource, got ${resourceType}`;
      throw invalid(text, [
        operationOutcome({ code: 'invalid', details: text, diagnostics: text, expression: ['resourceType'] })
          .issue[0],
      ]);
    }
    const resource = body as unknown as T;
    const issues: OperationOutcomeIssue[] = [];
    // Every problem of the body in one answer: medplum's structure and invariant issues, the JSON rules it
    // skips and the required bindings, each with the path of its element.
    let understood = true;
    loadDefinitionsFor(body);
    try {
      const warnings = validateResource(resource);
      for (const warning of warnings) {
        const text = warning.details?.text ?? '';
        if (promotedWarnings.some((pattern) => pattern.test(text))) issues.push(sanitizeIssue(warning, true));
      }
    } catch (error) {
      if (error instanceof OperationOutcomeError) {
        const medplumIssues = error.outcome.issue ?? [];
        issues.push(...medplumIssues.map((issue) => sanitizeIssue(issue, false)));
        if (!issues.some((issue) => issue.severity === 'error' || issue.severity === 'fatal')) {
          issues.push(structureIssue('Resource is not valid FHIR R4'));
        }
      } else {
        // medplum's crawler can throw on shapes it does not expect (or overflow on deep nesting):
        // that body is not a valid resource either.
        understood = false;
      }
    }
    issues.push(...jsonIssues(body, resourceType));
    issues.push(...metaIssues(body, resourceType));
    if (understood) {
      try {
        issues.push(...this.requiredBindings().issues(body));
      } catch {
        understood = false; // nesting deeper than the stack: not a resource a hospital sends
      }
    }
    if (!understood) issues.push(structureIssue('Resource is not valid FHIR R4'));
    if (issues.length > 0) throw invalid(`${resourceType} failed FHIR R4 validation`, distinct(issues));
    return resource;
  }
}
