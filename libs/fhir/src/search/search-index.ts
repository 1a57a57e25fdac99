import { evalFhirPathTyped, toTypedValue, type TypedValue } from '@medplum/core';
import type { Resource } from '@medplum/fhirtypes';
import {
  COLUMN_PARAMS,
  type SearchParamDefinition,
  type SearchParameterRegistry,
} from './search-parameter-registry';
import { dateRange, normalizeSearchString, type DateRange } from './search-values';

/** One row of `fhir_search_index`: a value of one search parameter of one resource. */
export interface SearchIndexRow {
  code: string;
  system: string | null;
  value: string | null;
  valueNorm: string | null;
  dateLo: string | null;
  dateHi: string | null;
  ref: string | null;
}

type Json = Record<string, unknown>;

const asObject = (value: unknown): Json | undefined =>
  typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Json) : undefined;
const asString = (value: unknown): string | undefined =>
  typeof value === 'string' && value !== '' ? value : undefined;
const strings = (value: unknown): string[] =>
  Array.isArray(value) ? value.map(asString).filter((s): s is string => s !== undefined) : [];

function row(code: string, fields: Partial<Omit<SearchIndexRow, 'code'>>): SearchIndexRow {
  return {
    code,
    system: fields.system ?? null,
    value: fields.value ?? null,
    valueNorm: fields.valueNorm ?? null,
    dateLo: fields.dateLo ?? null,
    dateHi: fields.dateHi ?? null,
    ref: fields.ref ?? null,
  };
}

function tokenRows(param: SearchParamDefinition, typed: TypedValue): SearchIndexRow[] {
  const { code } = param;
  const value: unknown = typed.value;
  const object = asObject(value);
  switch (typed.type) {
    case 'Identifier':
    case 'ContactPoint': {
      const v = asString(object?.value);
      return v === undefined ? [] : [row(code, { system: asString(object?.system), value: v })];
    }
    case 'Coding': {
      const c = asString(object?.code);
      return c === undefined ? [] : [row(code, { system: asString(object?.system), value: c })];
    }
    case 'CodeableConcept': {
      const codings: unknown[] = Array.isArray(object?.coding) ? object.coding : [];
      return codings.flatMap((coding) => tokenRows(param, { type: 'Coding', value: coding }));
    }
    case 'boolean':
      return typeof value === 'boolean' ? [row(code, { value: String(value) })] : [];
    default: {
      const v = asString(value);
      if (v === undefined) return [];
      const system = typed.type === 'code' ? param.codeSystems?.get(v) : undefined;
      return [row(code, { system, value: v })];
    }
  }
}

function stringRows(code: string, typed: TypedValue): SearchIndexRow[] {
  const object = asObject(typed.value);
  let parts: string[];
  switch (typed.type) {
    case 'HumanName':
      parts = [
        asString(object?.text),
        asString(object?.family),
        ...strings(object?.given),
        ...strings(object?.prefix),
        ...strings(object?.suffix),
      ].filter((s): s is string => s !== undefined);
      break;
    case 'Address':
      parts = [
        asString(object?.text),
        ...strings(object?.line),
        ...[object?.city, object?.district, object?.state, object?.postalCode, object?.country].map(asString),
      ].filter((s): s is string => s !== undefined);
      break;
    default: {
      const v = asString(typed.value);
      parts = v === undefined ? [] : [v];
    }
  }
  return parts
    .map((part) => row(code, { value: part, valueNorm: normalizeSearchString(part) }))
    .filter((r) => r.valueNorm !== '');
}

function dateRows(code: string, typed: TypedValue): SearchIndexRow[] {
  let range: DateRange | undefined;
  if (typed.type === 'Period') {
    const period = asObject(typed.value);
    const start = asString(period?.start);
    const end = asString(period?.end);
    const lo = start === undefined ? '-infinity' : dateRange(start)?.lo;
    const hi = end === undefined ? 'infinity' : dateRange(end)?.hi;
    if (lo !== undefined && hi !== undefined && (start !== undefined || end !== undefined))
      range = { lo, hi };
  } else {
    const v = asString(typed.value);
    range = v === undefined ? undefined : dateRange(v);
  }
  return range === undefined ? [] : [row(code, { dateLo: range.lo, dateHi: range.hi })];
}

/** `Type/id` from a relative or absolute literal reference (version suffix dropped), if it is one. */
export function referenceTarget(reference: string): { resourceType: string; id: string } | undefined {
  const segments = reference.split('/');
  const history = segments.lastIndexOf('_history');
  const path = history > 0 && history === segments.length - 2 ? segments.slice(0, history) : segments;
  if (path.length < 2) return undefined;
  if (path.length > 2 && !/^https?:$/.test(path[0])) return undefined;
  const [resourceType, id] = path.slice(-2);
  if (!/^[A-Z][A-Za-z]+$/.test(resourceType) || !/^[A-Za-z0-9\-.]{1,64}$/.test(id)) return undefined;
  return { resourceType, id };
}

function referenceRows(code: string, typed: TypedValue): SearchIndexRow[] {
  const reference = asString(asObject(typed.value)?.reference);
  if (reference === undefined) return [];
  const target = referenceTarget(reference);
  if (target === undefined) return [];
  return [
    row(code, { system: target.resourceType, value: target.id, ref: `${target.resourceType}/${target.id}` }),
  ];
}

/**
 * The index rows of a resource: each registered parameter's FHIRPath evaluated with medplum, each
 * value turned into token (system, value), string (value, normalised value), date range or
 * reference rows. `_id` and `_lastUpdated` are columns of `fhir_resource` and are not indexed.
 */
export function extractSearchIndex(registry: SearchParameterRegistry, resource: Resource): SearchIndexRow[] {
  const rows: SearchIndexRow[] = [];
  const seen = new Set<string>();
  const input = [toTypedValue(resource)];
  for (const param of registry.params(resource.resourceType)) {
    if (COLUMN_PARAMS.includes(param.code)) continue;
    for (const typed of evalFhirPathTyped(param.parsed, input)) {
      let found: SearchIndexRow[];
      switch (param.type) {
        case 'token':
          found = tokenRows(param, typed);
          break;
        case 'string':
          found = stringRows(param.code, typed);
          break;
        case 'date':
          found = dateRows(param.code, typed);
          break;
        case 'reference':
          found = referenceRows(param.code, typed);
          break;
        case 'uri': {
          const v = asString(typed.value);
          found = v === undefined ? [] : [row(param.code, { value: v })];
          break;
        }
      }
      for (const r of found) {
        const key = JSON.stringify(r);
        if (!seen.has(key)) {
          seen.add(key);
          rows.push(r);
        }
      }
    }
  }
  return rows;
}
