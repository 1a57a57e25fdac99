import type { AuditColumn, AuditCondition, AuditQuery } from '../trail/audit-event.repository';
import { AuditErrorCode, AuditException } from '../trail/audit.exception';

/** The search parameters of `/fhir/AuditEvent`: one list for the parser and the CapabilityStatement. */
export const AUDIT_SEARCH_PARAMETERS = [
  { name: 'patient', type: 'reference', column: 'patient', doc: 'The patient the access concerned' },
  { name: 'agent', type: 'reference', column: 'actor_id', doc: 'Who: the user or service (its id)' },
  { name: 'date', type: 'date', column: 'recorded', doc: 'When: eq, ge, gt, le, lt (repeat for a range)' },
  { name: 'action', type: 'token', column: 'action', doc: 'C, R, U, D or E' },
  {
    name: 'outcome',
    type: 'token',
    column: 'outcome',
    doc: '0 success, 4 refused or bad request, 8 failure',
  },
  { name: 'entity-type', type: 'token', column: 'resource_type', doc: 'The resource type accessed' },
  {
    name: 'purpose',
    type: 'token',
    column: 'break_the_glass',
    doc: 'ETREAT: break-the-glass accesses only, for review',
  },
] as const satisfies readonly {
  name: string;
  type: string;
  column: AuditColumn;
  doc: string;
}[];

export const DEFAULT_COUNT = 20;
export const MAX_COUNT = 100;
const CONTROL = new Set(['_sort', '_count', '_offset', '_format']);

const invalid = (message: string, parameter: string): AuditException =>
  new AuditException(AuditErrorCode.InvalidSearch, message, [parameter]);

function valuesOf(name: string, raw: unknown): string[] {
  const list = Array.isArray(raw) ? raw : [raw];
  return list.map((value) => {
    if (typeof value !== 'string') throw invalid(`Search parameter ${name} must be a plain value`, name);
    return value;
  });
}

const DATE =
  /^(\d{4})(?:-(\d{2})(?:-(\d{2})(?:T\d{2}:\d{2}(?::\d{2}(?:\.\d{1,3})?)?(?:Z|[+-]\d{2}:\d{2}))?)?)?$/;

/** The instant range [start, end) a FHIR date(Time) value covers at its precision. */
function dateRange(value: string): { start: Date; end: Date } {
  const match = DATE.exec(value);
  if (match === null) throw invalid(`date: '${value.slice(0, 64)}' is not a FHIR date or dateTime`, 'date');
  const range = precisionRange(value, match);
  if (
    Number.isNaN(range.start.getTime()) ||
    (match[2] !== undefined && !(Number(match[2]) >= 1 && Number(match[2]) <= 12))
  )
    throw invalid(`date: '${value.slice(0, 64)}' is not a FHIR date or dateTime`, 'date');
  return range;
}

function precisionRange(value: string, match: RegExpExecArray): { start: Date; end: Date } {
  if (value.includes('T')) {
    const start = new Date(value);
    const seconds = /T\d{2}:\d{2}:\d{2}/.test(value);
    const millis = value.includes('.');
    return { start, end: new Date(start.getTime() + (millis ? 1 : seconds ? 1_000 : 60_000)) };
  }
  const [, y, m, d] = match;
  const year = Number(y);
  if (m === undefined)
    return { start: new Date(Date.UTC(year, 0, 1)), end: new Date(Date.UTC(year + 1, 0, 1)) };
  const month = Number(m) - 1;
  if (d === undefined)
    return { start: new Date(Date.UTC(year, month, 1)), end: new Date(Date.UTC(year, month + 1, 1)) };
  const day = Number(d);
  return { start: new Date(Date.UTC(year, month, day)), end: new Date(Date.UTC(year, month, day + 1)) };
}

function dateConditions(value: string): AuditCondition[] {
  const prefix = /^(eq|ge|gt|le|lt)/.exec(value)?.[1] ?? 'eq';
  const { start, end } = dateRange(/^(eq|ge|gt|le|lt)/.test(value) ? value.slice(2) : value);
  const at = (d: Date): string => d.toISOString();
  switch (prefix) {
    case 'ge':
      return [{ column: 'recorded', op: '>=', at: at(start) }];
    case 'gt':
      return [{ column: 'recorded', op: '>=', at: at(end) }];
    case 'le':
      return [{ column: 'recorded', op: '<', at: at(end) }];
    case 'lt':
      return [{ column: 'recorded', op: '<', at: at(start) }];
    default:
      return [
        { column: 'recorded', op: '>=', at: at(start) },
        { column: 'recorded', op: '<', at: at(end) },
      ];
  }
}

function integer(name: string, raw: unknown, min: number, max: number): number {
  const [value] = valuesOf(name, raw);
  if (!/^\d{1,9}$/.test(value) || Number(value) < min || Number(value) > max)
    throw invalid(`${name} must be an integer from ${min} to ${max}`, name);
  return Number(value);
}

const TOKENS: Record<string, RegExp> = {
  action: /^[CRUDE]$/,
  outcome: /^(0|4|8)$/,
  'entity-type': /^[A-Z][A-Za-z]{0,63}$/,
};

/**
 * Parses the query of `GET /fhir/AuditEvent` into a repository query. An unknown parameter, a malformed
 * value or an unknown sort key is refused (400 OperationOutcome) rather than ignored: an auditor's filter
 * that silently matched everything would be a wrong report.
 */
export function parseAuditSearch(query: Record<string, unknown>): AuditQuery {
  const conditions: AuditCondition[] = [];
  for (const [name, raw] of Object.entries(query)) {
    if (CONTROL.has(name)) continue;
    const parameter = AUDIT_SEARCH_PARAMETERS.find((p) => p.name === name);
    if (parameter === undefined) throw invalid(`Unknown search parameter '${name.slice(0, 64)}'`, name);
    for (const value of valuesOf(name, raw)) {
      if (parameter.column === 'recorded') {
        conditions.push(...dateConditions(value));
        continue;
      }
      if (parameter.column === 'break_the_glass') {
        if (value.replace(/^.*\|/, '') !== 'ETREAT') throw invalid(`purpose: only ETREAT is recorded`, name);
        conditions.push({ column: 'break_the_glass', present: true });
        continue;
      }
      const anyOf = value
        .split(',')
        .map((v) => (parameter.type === 'reference' ? v.replace(/^.*\//, '') : v));
      const pattern = TOKENS[name];
      for (const v of anyOf) {
        if (v === '' || v.length > 200 || (pattern !== undefined && !pattern.test(v)))
          throw invalid(`${name}: '${v.slice(0, 64)}' is not a valid value`, name);
      }
      conditions.push({ column: parameter.column, anyOf });
    }
  }
  const sort =
    query._sort === undefined
      ? [{ column: 'recorded' as AuditColumn, descending: false }]
      : valuesOf('_sort', query._sort)
          .flatMap((v) => v.split(','))
          .map((key) => {
            const descending = key.startsWith('-');
            const name = descending ? key.slice(1) : key;
            const parameter = AUDIT_SEARCH_PARAMETERS.find((p) => p.name === name);
            if (parameter === undefined) throw invalid(`Cannot sort by '${name.slice(0, 64)}'`, '_sort');
            return { column: parameter.column, descending };
          });
  return {
    conditions,
    sort,
    count: query._count === undefined ? DEFAULT_COUNT : integer('_count', query._count, 1, MAX_COUNT),
    offset: query._offset === undefined ? 0 : integer('_offset', query._offset, 0, 100_000_000),
  };
}
