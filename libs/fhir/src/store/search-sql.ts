import type { SearchParameterRegistry } from '../search/search-parameter-registry';
import type { DateQuery, IncludeRule, SearchFilter, SearchRequest, SortRule } from '../search/search-request';
import { escapeLike, normalizeSearchString } from '../search/search-values';

/** Collects positional parameters; every value reaches SQL as `$n`, never inside the text. */
class Parameters {
  readonly values: unknown[] = [];
  add(value: unknown): string {
    this.values.push(value);
    return `$${this.values.length}`;
  }
}

/** A date range [lo, hi) of the target (`l`, `h`) compared with the search range [plo, phi). */
function dateCondition(query: DateQuery, l: string, h: string, p: Parameters): string {
  // Both bounds are always bound (and typed), even where a prefix compares with one of them only.
  const plo = `${p.add(query.lo)}::timestamptz`;
  const phi = `${p.add(query.hi)}::timestamptz`;
  const eq = `(${l} >= ${plo} AND ${h} <= ${phi})`;
  switch (query.prefix) {
    case 'eq':
      return eq;
    case 'ne':
      return `NOT ${eq}`;
    case 'lt':
      return `(${l} < ${plo} AND ${phi} IS NOT NULL)`;
    case 'gt':
      return `(${h} > ${phi} AND ${plo} IS NOT NULL)`;
    case 'le':
      return `(${l} < ${plo} OR ${eq})`;
    case 'ge':
      return `(${h} > ${phi} OR ${eq})`;
    case 'sa':
      return `(${l} >= ${phi} AND ${plo} IS NOT NULL)`;
    case 'eb':
      return `(${h} <= ${plo} AND ${phi} IS NOT NULL)`;
    case 'ap': {
      // Approximately: the ranges overlap once the search range is widened by 10% of its distance
      // from now (at least a day), as the FHIR specification suggests.
      const widen = `GREATEST(interval '1 day', abs(extract(epoch FROM now() - ${plo})) * 0.1 * interval '1 second')`;
      return `(${l} < ${phi} + ${widen} AND ${h} > ${plo} - ${widen})`;
    }
  }
}

function indexExists(code: string, condition: string | undefined, p: Parameters): string {
  return (
    `EXISTS (SELECT 1 FROM fhir_search_index i WHERE i.resource_type = r.resource_type AND i.resource_id = r.id` +
    ` AND i.code = ${p.add(code)}${condition === undefined ? '' : ` AND (${condition})`})`
  );
}

function filterCondition(filter: SearchFilter, p: Parameters): string {
  if (filter.code === '_id' && filter.type === 'token') {
    const ids = filter.values.map((v) => v.code).filter((c): c is string => c !== undefined);
    return `${filter.not ? 'NOT ' : ''}r.id = ANY(${p.add(ids)}::text[])`;
  }
  if (filter.code === '_lastUpdated' && filter.type === 'date') {
    const lo = 'r.last_updated';
    const hi = `(r.last_updated + interval '1 millisecond')`;
    return `(${filter.values.map((v) => dateCondition(v, lo, hi, p)).join(' OR ')})`;
  }
  switch (filter.type) {
    case 'missing':
      return `${filter.missing ? 'NOT ' : ''}${indexExists(filter.code, undefined, p)}`;
    case 'token': {
      const alternatives = filter.values.map((token) => {
        const parts: string[] = [];
        if (token.system === null) parts.push('i.system IS NULL');
        else if (token.system !== undefined) parts.push(`i.system = ${p.add(token.system)}`);
        if (token.code !== undefined) parts.push(`i.value = ${p.add(token.code)}`);
        return `(${parts.join(' AND ')})`;
      });
      return `${filter.not ? 'NOT ' : ''}${indexExists(filter.code, alternatives.join(' OR '), p)}`;
    }
    case 'string': {
      const alternatives = filter.values.map((value) => {
        switch (filter.match) {
          case 'exact':
            return `i.value = ${p.add(value)}`;
          case 'contains':
            return `i.value_norm LIKE ${p.add(`%${escapeLike(normalizeSearchString(value))}%`)}`;
          case 'prefix':
            return `i.value_norm LIKE ${p.add(`${escapeLike(normalizeSearchString(value))}%`)}`;
        }
      });
      return indexExists(filter.code, alternatives.join(' OR '), p);
    }
    case 'date':
      return indexExists(
        filter.code,
        filter.values.map((v) => dateCondition(v, 'i.date_lo', 'i.date_hi', p)).join(' OR '),
        p,
      );
    case 'reference': {
      const alternatives = filter.values.map((ref) =>
        ref.resourceType === undefined
          ? `i.value = ${p.add(ref.id)}`
          : `i.ref = ${p.add(`${ref.resourceType}/${ref.id}`)}`,
      );
      return indexExists(filter.code, alternatives.join(' OR '), p);
    }
    case 'uri':
      return indexExists(filter.code, `i.value = ANY(${p.add(filter.values)}::text[])`, p);
  }
}

function sortExpression(
  rule: SortRule,
  registry: SearchParameterRegistry,
  resourceType: string,
  p: Parameters,
): string {
  const direction = rule.descending ? 'DESC' : 'ASC';
  if (rule.code === '_id') return `r.id ${direction}`;
  if (rule.code === '_lastUpdated') return `r.last_updated ${direction}`;
  const type = registry.param(resourceType, rule.code)?.type;
  const column =
    type === 'date'
      ? 'i.date_lo'
      : type === 'string'
        ? 'i.value_norm'
        : type === 'reference'
          ? 'i.ref'
          : 'i.value';
  const aggregate = rule.descending ? 'max' : 'min';
  return (
    `(SELECT ${aggregate}(${column}) FROM fhir_search_index i WHERE i.resource_type = r.resource_type` +
    ` AND i.resource_id = r.id AND i.code = ${p.add(rule.code)}) ${direction} NULLS LAST`
  );
}

export interface SearchSql {
  count: { text: string; values: unknown[] };
  page: { text: string; values: unknown[] };
}

/** The count and page statements for a parsed search. */
export function buildSearchSql(registry: SearchParameterRegistry, request: SearchRequest): SearchSql {
  const where = (p: Parameters): string =>
    [
      `r.resource_type = ${p.add(request.resourceType)}`,
      'NOT r.deleted',
      ...request.filters.map((filter) => filterCondition(filter, p)),
    ].join(' AND ');

  const countParams = new Parameters();
  const countText = `SELECT count(*)::int AS total FROM fhir_resource r WHERE ${where(countParams)}`;

  const pageParams = new Parameters();
  const pageWhere = where(pageParams);
  const order =
    request.sort.length > 0
      ? request.sort.map((rule) => sortExpression(rule, registry, request.resourceType, pageParams))
      : ['r.last_updated DESC'];
  order.push('r.id ASC');
  const pageText =
    `SELECT r.content FROM fhir_resource r WHERE ${pageWhere} ORDER BY ${order.join(', ')}` +
    ` LIMIT ${pageParams.add(request.count)} OFFSET ${pageParams.add(request.offset)}`;
  return {
    count: { text: countText, values: countParams.values },
    page: { text: pageText, values: pageParams.values },
  };
}

/**
 * The resources one `_include` or `_revinclude` rule brings in for the matches `ids` (of the searched
 * type), current versions only, at most `limit`: for `_include`, those the matches' `rule.code` references
 * point at; for `_revinclude`, the `rule.sourceType` resources whose `rule.code` references a match.
 */
export function includeSql(
  rule: IncludeRule,
  searchedType: string,
  ids: readonly string[],
  reverse: boolean,
  limit: number,
): { text: string; values: unknown[] } {
  const p = new Parameters();
  if (!reverse) {
    const text =
      `SELECT r.content FROM fhir_resource r WHERE NOT r.deleted AND (r.resource_type, r.id) IN (` +
      `SELECT i.system, i.value FROM fhir_search_index i WHERE i.resource_type = ${p.add(rule.sourceType)}` +
      ` AND i.resource_id = ANY(${p.add(ids)}::text[]) AND i.code = ${p.add(rule.code)}` +
      ` AND i.ref IS NOT NULL AND i.system = ANY(${p.add(rule.targetTypes)}::text[]))` +
      ` ORDER BY r.resource_type, r.id LIMIT ${p.add(limit)}`;
    return { text, values: p.values };
  }
  const refs = ids.map((id) => `${searchedType}/${id}`);
  const source = p.add(rule.sourceType);
  const text =
    `SELECT r.content FROM fhir_resource r WHERE r.resource_type = ${source} AND NOT r.deleted AND r.id IN (` +
    `SELECT i.resource_id FROM fhir_search_index i WHERE i.resource_type = ${source}` +
    ` AND i.code = ${p.add(rule.code)} AND i.ref = ANY(${p.add(refs)}::text[]))` +
    ` ORDER BY r.id LIMIT ${p.add(limit)}`;
  return { text, values: p.values };
}
