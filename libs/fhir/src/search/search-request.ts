import type { DateRange } from './search-values';

/** Search parameter types the store can index and query. */
export type SearchParamType = 'token' | 'string' | 'date' | 'reference' | 'uri';

export const DATE_PREFIXES = ['eq', 'ne', 'lt', 'gt', 'le', 'ge', 'sa', 'eb', 'ap'] as const;
export type DatePrefix = (typeof DATE_PREFIXES)[number];

/** `system|code`: `system` undefined = any system, null = no system (`|code`); `code` undefined = any code. */
export interface TokenQuery {
  system?: string | null;
  code?: string;
}

export interface DateQuery extends DateRange {
  prefix: DatePrefix;
}

/** `Type/id`, or a bare id (any type) when `resourceType` is undefined. */
export interface ReferenceQuery {
  resourceType?: string;
  id: string;
}

/** One parameter of the query. Filters are ANDed; the values inside one filter are ORed. */
export type SearchFilter =
  | { type: 'token'; code: string; not: boolean; values: TokenQuery[] }
  | { type: 'string'; code: string; match: 'prefix' | 'exact' | 'contains'; values: string[] }
  | { type: 'date'; code: string; values: DateQuery[] }
  | { type: 'reference'; code: string; values: ReferenceQuery[] }
  | { type: 'uri'; code: string; values: string[] }
  | { type: 'missing'; code: string; missing: boolean };

export interface SortRule {
  /** `_id`, `_lastUpdated` or a registered parameter code. */
  code: string;
  descending: boolean;
}

/**
 * `_include=Source:param[:Target]` (resources the matches reference) or `_revinclude=Source:param[:Target]`
 * (resources of type Source whose `param` references a match).
 */
export interface IncludeRule {
  /** The type holding the reference: the searched type for `_include`, the referring type for `_revinclude`. */
  sourceType: string;
  /** A reference search parameter of `sourceType`. */
  code: string;
  /** The referenced type: the `:Target` given, else every target of the parameter this service serves. */
  targetTypes: string[];
}

/** `_summary` values: `true` (summary elements), `text`, `data` (all but text), `count` (the total only). */
export type SummaryMode = 'true' | 'text' | 'data' | 'count';

/** How a search treats parameters it does not know (FHIR's `Prefer: handling=`). */
export type SearchHandling = 'strict' | 'lenient';

export interface SearchRequest {
  resourceType: string;
  filters: SearchFilter[];
  /** Page size, already capped. */
  count: number;
  offset: number;
  sort: SortRule[];
  /** Whether the total is computed (`_total=none` skips it). */
  total: boolean;
  /**
   * The accepted query parameters (name with modifier, raw value) in request order, without the
   * paging parameters: what self/next/previous links repeat.
   */
  params: ReadonlyArray<readonly [string, string]>;
  /** `_include` rules, resolved against the registry. */
  include?: IncludeRule[];
  /** `_revinclude` rules, resolved against the registry. */
  revinclude?: IncludeRule[];
  /** `_summary` (absent, or `false`: whole resources). */
  summary?: SummaryMode;
  /** `_elements`: the top-level elements to return (besides id, meta and the mandatory ones). */
  elements?: string[];
  /**
   * Parameters left out under lenient handling because this service does not know them (name with
   * modifier, never the value): reported in the searchset Bundle's outcome entry.
   */
  ignored?: string[];
}

export interface SearchResult<T> {
  /** Number of matches over all pages, unless the request asked for `_total=none`. */
  total?: number;
  resources: T[];
}
