import {
  getExpressionForResourceType,
  getSearchParameter,
  getSearchParameterDetails,
  parseFhirPath,
  type FhirPathAtom,
} from '@medplum/core';
import { isR4ResourceType, loadFhirDefinitions } from '../definitions/fhir-definitions';
import { FhirErrorCode } from '../errors/fhir-error-code';
import { FhirException } from '../errors/fhir-exception';
import { isStorableString, isValidFhirId } from '../validation/fhir-validator';
import { R4ValueSets, type ValueSetCodes } from '../validation/value-sets';
import {
  DATE_PREFIXES,
  type DatePrefix,
  type DateQuery,
  type IncludeRule,
  type ReferenceQuery,
  type SearchFilter,
  type SearchHandling,
  type SearchParamType,
  type SearchRequest,
  type SortRule,
  type SummaryMode,
  type TokenQuery,
} from './search-request';
import { dateRange, normalizeSearchString, splitUnescaped, unescapeSearchValue } from './search-values';

export const DEFAULT_PAGE_SIZE = 20;
export const MAX_PAGE_SIZE = 100;
export const MAX_OFFSET = 100_000;

/** Per service: which resource types it serves and which search parameters each accepts. */
export type SearchDeclaration = Readonly<Record<string, readonly string[]>>;

/** A search parameter as the service supports it, resolved from the FHIR R4 SearchParameter. */
export interface SearchParamDefinition {
  resourceType: string;
  code: string;
  type: SearchParamType;
  /** Canonical URL of the R4 SearchParameter. */
  definition: string;
  /** FHIRPath, restricted to this resource type. */
  expression: string;
  description?: string;
  /** Resource types a reference parameter may point at. */
  targets?: string[];
  /** For `code` elements with a required binding: each code's implicit system. */
  codeSystems?: ValueSetCodes;
  /** Parsed `expression`, evaluated to extract index values. */
  readonly parsed: FhirPathAtom;
}

const SUPPORTED_TYPES: readonly string[] = ['token', 'string', 'date', 'reference', 'uri'];
/** Parameters evaluated against columns of `fhir_resource` rather than the index. */
export const COLUMN_PARAMS: readonly string[] = ['_id', '_lastUpdated'];
const CONTROL_PARAMS = [
  '_count',
  '_offset',
  '_sort',
  '_total',
  '_format',
  '_include',
  '_revinclude',
  '_summary',
  '_elements',
] as const;
type ControlParam = (typeof CONTROL_PARAMS)[number];

/**
 * The control parameters a search accepts besides the registered ones (`_include` and `_revinclude` are
 * declared apart, per value), with what each does: the CapabilityStatement lists them.
 */
export const CONTROL_PARAMETER_DOCS: Readonly<Record<string, string>> = {
  _count: `Page size (default ${DEFAULT_PAGE_SIZE}, at most ${MAX_PAGE_SIZE})`,
  _offset: `Index of the first match of the page (at most ${MAX_OFFSET})`,
  _sort: '_id, _lastUpdated or a search parameter of this type; - for descending; several comma-separated',
  _total: 'none, estimate or accurate (estimate is answered accurately)',
  _summary: 'true, text, data or count; subsetted resources are tagged SUBSETTED',
  _elements: 'Top-level elements to return (id, meta and mandatory elements always); tagged SUBSETTED',
};

/** The `_summary` values this server honours (`false` asks for whole resources, the default). */
export const SUMMARY_MODES: readonly (SummaryMode | 'false')[] = ['true', 'text', 'data', 'count', 'false'];
/** An element name of `_elements` (top-level elements only, as R4 defines the parameter). */
const ELEMENT_NAME = /^[a-z][A-Za-z0-9]{0,63}$/;

export interface ParseSearchOptions {
  /**
   * `strict` (the default for callers in code): an unknown parameter is a 400 naming it. `lenient` (what the
   * FHIR endpoint uses unless the client sends `Prefer: handling=strict`): it is left out, listed in
   * `SearchRequest.ignored` and reported in the Bundle's outcome entry, as the FHIR specification asks.
   */
  handling?: SearchHandling;
}

function unknownParameter(name: string): FhirException {
  return new FhirException(FhirErrorCode.UnknownSearchParameter, `Unknown search parameter: ${name}`, {
    expression: [name],
  });
}

function invalidValue(name: string, what: string): FhirException {
  return new FhirException(FhirErrorCode.Invalid, `Invalid value for search parameter ${name}: ${what}`, {
    expression: [name],
  });
}

/** Express's parsed query (or any string record) as name → values; nested values are rejected. */
function queryEntries(query: unknown): [string, string][] {
  if (query === undefined || query === null) return [];
  if (typeof query !== 'object') throw FhirException.invalid('Malformed query string');
  const pairs: [string, unknown][] =
    query instanceof URLSearchParams
      ? [...query.entries()]
      : Object.entries(query as Record<string, unknown>);
  const entries: [string, string][] = [];
  for (const [name, value] of pairs) {
    const values: unknown[] = Array.isArray(value) ? value : [value];
    for (const v of values) {
      if (typeof v !== 'string') throw invalidValue(name, 'expected a plain string value');
      // PostgreSQL text cannot hold these: refused here, whether from a query string or a form body
      if (!isStorableString(name) || !isStorableString(v)) {
        throw FhirException.invalid('Query contains a NUL character or an unpaired surrogate');
      }
      entries.push([name, v]);
    }
  }
  return entries;
}

function parseInteger(name: string, raw: string, max: number): number {
  if (!/^\d{1,9}$/.test(raw)) throw invalidValue(name, 'expected a non-negative integer');
  const value = Number(raw);
  if (value > max) throw invalidValue(name, `must not exceed ${max}`);
  return value;
}

/**
 * The search parameters a service supports, resolved once from medplum's R4 search-parameters.json
 * (type, FHIRPath expression, targets). The search parser, the index extraction and the
 * CapabilityStatement all read this one registry, so what is advertised is exactly what is accepted.
 */
export class SearchParameterRegistry {
  private readonly byType = new Map<string, Map<string, SearchParamDefinition>>();

  /** Throws (at boot) when a declared type or parameter does not exist in R4 or is not supported. */
  constructor(declaration: SearchDeclaration) {
    for (const resourceType of Object.keys(declaration)) {
      if (!isR4ResourceType(resourceType)) throw new Error(`Unknown FHIR R4 resource type ${resourceType}`);
    }
    loadFhirDefinitions(Object.keys(declaration));
    for (const [resourceType, codes] of Object.entries(declaration)) {
      const params = new Map<string, SearchParamDefinition>();
      for (const code of codes) params.set(code, SearchParameterRegistry.resolve(resourceType, code));
      this.byType.set(resourceType, params);
    }
  }

  private static resolve(resourceType: string, code: string): SearchParamDefinition {
    const searchParam = getSearchParameter(resourceType, code);
    if (searchParam?.expression === undefined) {
      throw new Error(`${resourceType} has no FHIR R4 search parameter ${code}`);
    }
    if (!SUPPORTED_TYPES.includes(searchParam.type)) {
      throw new Error(`Search parameter ${resourceType}.${code} has type ${searchParam.type}, not supported`);
    }
    const expression =
      getExpressionForResourceType(resourceType, searchParam.expression) ?? searchParam.expression;
    const definition: SearchParamDefinition = {
      resourceType,
      code,
      type: searchParam.type as SearchParamType,
      definition: searchParam.url ?? `http://hl7.org/fhir/SearchParameter/Resource-${code.slice(1)}`,
      expression,
      parsed: parseFhirPath(expression),
    };
    if (searchParam.description !== undefined) definition.description = searchParam.description;
    if (searchParam.target !== undefined) definition.targets = [...searchParam.target];
    if (definition.type === 'token') {
      const details = getSearchParameterDetails(resourceType, searchParam);
      for (const element of details.elementDefinitions ?? []) {
        const binding = element.binding;
        if (
          element.type.some((t) => t.code === 'code') &&
          binding?.strength === 'required' &&
          binding.valueSet
        ) {
          definition.codeSystems = R4ValueSets.shared().codes(binding.valueSet);
        }
      }
    }
    return definition;
  }

  resourceTypes(): string[] {
    return [...this.byType.keys()];
  }

  supports(resourceType: string): boolean {
    return this.byType.has(resourceType);
  }

  params(resourceType: string): SearchParamDefinition[] {
    return [...(this.byType.get(resourceType)?.values() ?? [])];
  }

  param(resourceType: string, code: string): SearchParamDefinition | undefined {
    return this.byType.get(resourceType)?.get(code);
  }

  /**
   * Parses a search query for `resourceType`: control parameters (`_count` ≤ 100, default 20; `_offset`;
   * `_sort`; `_total`; `_format=json`; `_include`, `_revinclude`, `_summary`, `_elements`) and registered
   * search parameters with a supported modifier. A parameter this service does not know is a 400 naming
   * it, or, with `handling: 'lenient'`, left out and listed in `ignored`. A malformed value of a known
   * parameter is a 400 either way. Values are never echoed in errors.
   */
  parseSearch(resourceType: string, query: unknown, options: ParseSearchOptions = {}): SearchRequest {
    const params = this.byType.get(resourceType);
    if (params === undefined) throw FhirException.notFound(resourceType);
    const request: SearchRequest = {
      resourceType,
      filters: [],
      count: DEFAULT_PAGE_SIZE,
      offset: 0,
      sort: [],
      total: true,
      params: [],
    };
    const ignored: string[] = [];
    const unknown = (name: string): void => {
      if (options.handling !== 'lenient') throw unknownParameter(name);
      if (!ignored.includes(name)) ignored.push(name);
    };
    const accepted: [string, string][] = [];
    for (const [name, raw] of queryEntries(query)) {
      if ((CONTROL_PARAMS as readonly string[]).includes(name)) {
        this.applyControl(request, params, name as ControlParam, raw, accepted, unknown);
        continue;
      }
      const [code, modifier, ...rest] = name.split(':');
      const definition = params.get(code);
      if (definition === undefined || rest.length > 0 || code.includes('.')) {
        unknown(name);
        continue;
      }
      if (raw === '') continue; // FHIR: parameters with empty values are ignored
      request.filters.push(this.parseFilter(definition, name, modifier, raw));
      accepted.push([name, raw]);
    }
    if (request.summary !== undefined && request.elements !== undefined) {
      throw FhirException.invalid('_summary and _elements cannot be combined', ['_elements']);
    }
    if (request.summary === 'count') {
      request.count = 0;
      request.total = true;
    }
    request.params = accepted;
    if (ignored.length > 0) request.ignored = ignored;
    return request;
  }

  /** The `_include` values a search of `resourceType` follows (`Type:param` and `Type:param:Target`). */
  includeValues(resourceType: string): string[] {
    return this.followable(resourceType, [resourceType], false);
  }

  /** The `_revinclude` values a search of `resourceType` follows (`Source:param` and `Source:param:Type`). */
  revIncludeValues(resourceType: string): string[] {
    return this.followable(resourceType, this.resourceTypes(), true);
  }

  private followable(searched: string, sources: string[], reverse: boolean): string[] {
    const values: string[] = [];
    for (const source of sources) {
      for (const param of this.params(source).filter((p) => p.type === 'reference')) {
        const rule = this.includeRule(searched, `${source}:${param.code}`, reverse);
        if (rule === undefined) continue;
        values.push(
          `${source}:${param.code}`,
          ...rule.targetTypes.map((t) => `${source}:${param.code}:${t}`),
        );
      }
    }
    return values;
  }

  /**
   * `Source:param[:Target]` of `_include` (Source is the searched type) or `_revinclude` (param is a
   * reference of Source that may point at the searched type); undefined when this service cannot
   * follow it (unknown type or parameter, not a reference, a target it does not serve).
   */
  private includeRule(searched: string, value: string, reverse: boolean): IncludeRule | undefined {
    const [sourceType, code, target, ...rest] = value.split(':');
    if (rest.length > 0 || code === undefined || code === '') return undefined;
    if (!reverse && sourceType !== searched) return undefined;
    const definition = this.param(sourceType, code);
    if (definition?.type !== 'reference') return undefined;
    const served = (definition.targets ?? []).filter((type) => this.supports(type));
    const targetTypes = reverse ? served.filter((type) => type === searched) : served;
    if (target !== undefined && !targetTypes.includes(target)) return undefined;
    if (targetTypes.length === 0) return undefined;
    return { sourceType, code, targetTypes: target === undefined ? targetTypes : [target] };
  }

  private applyControl(
    request: SearchRequest,
    params: Map<string, SearchParamDefinition>,
    name: ControlParam,
    raw: string,
    accepted: [string, string][],
    unknown: (name: string) => void,
  ): void {
    if (raw === '') return;
    switch (name) {
      case '_count':
        request.count = Math.min(parseInteger(name, raw, Number.MAX_SAFE_INTEGER), MAX_PAGE_SIZE);
        return;
      case '_offset':
        request.offset = parseInteger(name, raw, MAX_OFFSET);
        return;
      case '_sort': {
        const rules: SortRule[] = [];
        for (const part of raw.split(',')) {
          const descending = part.startsWith('-');
          const code = descending ? part.slice(1) : part;
          if (COLUMN_PARAMS.includes(code) || params.has(code)) rules.push({ code, descending });
          else unknown(`_sort=${code}`);
        }
        if (rules.length === 0) return;
        request.sort = rules;
        accepted.push([name, rules.map((r) => `${r.descending ? '-' : ''}${r.code}`).join(',')]);
        return;
      }
      case '_include':
      case '_revinclude': {
        const rule = this.includeRule(request.resourceType, raw, name === '_revinclude');
        if (rule === undefined) {
          unknown(`${name}=${raw.slice(0, 100)}`);
          return;
        }
        const rules = name === '_include' ? (request.include ??= []) : (request.revinclude ??= []);
        rules.push(rule);
        accepted.push([name, raw]);
        return;
      }
      case '_summary':
        if (!(SUMMARY_MODES as readonly string[]).includes(raw))
          throw invalidValue(name, 'true, text, data, count or false');
        if (raw !== 'false') request.summary = raw as SummaryMode;
        accepted.push([name, raw]);
        return;
      case '_elements': {
        const elements = raw.split(',').map((element) => element.trim());
        if (!elements.every((element) => ELEMENT_NAME.test(element)))
          throw invalidValue(name, 'expected top-level element names');
        request.elements = [...new Set([...(request.elements ?? []), ...elements])];
        accepted.push([name, raw]);
        return;
      }
      case '_total':
        if (!['none', 'estimate', 'accurate'].includes(raw))
          throw invalidValue(name, 'none, estimate or accurate');
        request.total = raw !== 'none';
        accepted.push([name, raw]);
        return;
      case '_format':
        if (!['json', 'application/json', 'application/fhir+json'].includes(raw)) {
          throw invalidValue(name, 'only JSON is supported');
        }
        return;
    }
  }

  private parseFilter(
    definition: SearchParamDefinition,
    name: string,
    modifier: string | undefined,
    raw: string,
  ): SearchFilter {
    const { code } = definition;
    if (modifier === 'missing' && !COLUMN_PARAMS.includes(code)) {
      if (raw !== 'true' && raw !== 'false') throw invalidValue(name, 'expected true or false');
      return { type: 'missing', code, missing: raw === 'true' };
    }
    const unsupportedModifier = (): FhirException =>
      new FhirException(FhirErrorCode.Invalid, `Unsupported modifier on search parameter ${name}`, {
        expression: [name],
      });
    const segments = splitUnescaped(raw, ',');
    switch (definition.type) {
      case 'token': {
        if (modifier !== undefined && (modifier !== 'not' || code === '_id')) throw unsupportedModifier();
        return {
          type: 'token',
          code,
          not: modifier === 'not',
          values: segments.map((s) => parseToken(name, s)),
        };
      }
      case 'string': {
        if (modifier !== undefined && modifier !== 'exact' && modifier !== 'contains')
          throw unsupportedModifier();
        const values = segments.map((s) => unescapeSearchValue(s));
        if (values.some((v) => normalizeSearchString(v) === '')) throw invalidValue(name, 'empty string');
        return { type: 'string', code, match: modifier ?? 'prefix', values };
      }
      case 'date': {
        if (modifier !== undefined) throw unsupportedModifier();
        return { type: 'date', code, values: segments.map((s) => parseDate(name, s)) };
      }
      case 'reference': {
        if (modifier !== undefined && !(definition.targets ?? []).includes(modifier))
          throw unsupportedModifier();
        return {
          type: 'reference',
          code,
          values: segments.map((s) =>
            parseReference(name, unescapeSearchValue(s), modifier, definition.targets),
          ),
        };
      }
      case 'uri': {
        if (modifier !== undefined) throw unsupportedModifier();
        return { type: 'uri', code, values: segments.map((s) => unescapeSearchValue(s)) };
      }
    }
  }
}

function parseToken(name: string, segment: string): TokenQuery {
  const parts = splitUnescaped(segment, '|');
  if (parts.length > 2) throw invalidValue(name, 'expected [system|]code');
  if (parts.length === 1) {
    const code = unescapeSearchValue(parts[0]);
    if (code === '') throw invalidValue(name, 'empty token');
    return { code };
  }
  const system = unescapeSearchValue(parts[0]);
  const code = unescapeSearchValue(parts[1]);
  if (system === '' && code === '') throw invalidValue(name, 'empty token');
  const token: TokenQuery = { system: system === '' ? null : system };
  if (code !== '') token.code = code;
  return token;
}

function parseDate(name: string, segment: string): DateQuery {
  const prefixed = /^([a-z]{2})(.*)$/.exec(segment);
  let prefix: DatePrefix = 'eq';
  let value = segment;
  if (prefixed !== null) {
    if (!(DATE_PREFIXES as readonly string[]).includes(prefixed[1]))
      throw invalidValue(name, 'unknown prefix');
    prefix = prefixed[1] as DatePrefix;
    value = prefixed[2];
  }
  const range = dateRange(value);
  if (range === undefined) throw invalidValue(name, 'expected a FHIR date or dateTime');
  return { prefix, ...range };
}

function parseReference(
  name: string,
  value: string,
  typeModifier: string | undefined,
  targets: string[] | undefined,
): ReferenceQuery {
  const invalid = (): FhirException =>
    invalidValue(name, 'expected [Type/]id or an absolute URL ending in Type/id');
  let resourceType: string | undefined = typeModifier;
  let id = value;
  const segments = value.split('/');
  if (segments.length >= 2) {
    let rest = segments;
    const history = rest.lastIndexOf('_history');
    if (history > 0 && history === rest.length - 2) rest = rest.slice(0, history);
    const [type, last] = rest.slice(-2);
    if (/^https?:$/.test(segments[0]) === false && rest.length !== 2) throw invalid();
    if (typeModifier !== undefined && type !== typeModifier) throw invalid();
    resourceType = type;
    id = last;
  }
  if (!isValidFhirId(id)) throw invalid();
  if (resourceType !== undefined) {
    if (!isR4ResourceType(resourceType)) throw invalid();
    if (targets !== undefined && !targets.includes(resourceType)) throw invalid();
  }
  return resourceType === undefined ? { id } : { resourceType, id };
}
