/** Value helpers shared by search parsing and index extraction, so both sides agree on ranges and case. */

/** Case- and accent-insensitive form of a string, as FHIR string search compares them. */
export function normalizeSearchString(value: string): string {
  return value.normalize('NFKD').replace(/\p{M}/gu, '').toLowerCase().replace(/\s+/g, ' ').trim();
}

/** Escapes `%`, `_` and `\` for a LIKE pattern (PostgreSQL's default escape character is `\`). */
export function escapeLike(value: string): string {
  return value.replace(/[\\%_]/g, (c) => `\\${c}`);
}

/** Splits on `separator` where it is not escaped with `\`; segments keep their escapes. */
export function splitUnescaped(input: string, separator: string): string[] {
  const parts: string[] = [];
  let current = '';
  for (let i = 0; i < input.length; i++) {
    const c = input[i];
    if (c === '\\' && i + 1 < input.length) {
      current += c + input[i + 1];
      i++;
    } else if (c === separator) {
      parts.push(current);
      current = '';
    } else current += c;
  }
  parts.push(current);
  return parts;
}

/** Removes FHIR search escapes (`\,` `\|` `\$` `\\`). */
export function unescapeSearchValue(value: string): string {
  return value.replace(/\\(.)/g, '$1');
}

/** A half-open instant range [lo, hi), as ISO strings; `-infinity`/`infinity` for open ends. */
export interface DateRange {
  lo: string;
  hi: string;
}

const DATE_PATTERN =
  /^(\d{4})(?:-(\d{2})(?:-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?(Z|[+-]\d{2}:\d{2})?)?)?)?$/;

const MAX_INSTANT = utc(10000, 0, 1);

/** ISO form of an instant; `infinity` past year 9999, which FHIR dates cannot reach. */
function iso(ms: number): string {
  return ms >= MAX_INSTANT ? 'infinity' : new Date(ms).toISOString();
}

function utc(year: number, monthIndex: number, day: number, h = 0, mi = 0, s = 0, ms = 0): number {
  const date = new Date(0);
  date.setUTCFullYear(year, monthIndex, day);
  date.setUTCHours(h, mi, s, ms);
  return date.getTime();
}

/**
 * The range a FHIR date, dateTime or instant covers at its precision: `1990` is all of 1990,
 * `1990-05-17` that day, `1990-05-17T10:00:00Z` that second. Dates and times without a zone are
 * read as UTC (a birth date has no zone), the same way when indexing and when searching.
 */
export function dateRange(value: string): DateRange | undefined {
  const m = DATE_PATTERN.exec(value);
  if (m === null) return undefined;
  const [, y, mo, d, h, mi, s, frac, zone] = m;
  const year = Number(y);
  const month = mo === undefined ? 1 : Number(mo);
  const day = d === undefined ? 1 : Number(d);
  if (year < 1 || month < 1 || month > 12 || day < 1) return undefined;
  if (new Date(utc(year, month - 1, day)).getUTCDate() !== day) return undefined;
  if (h === undefined) {
    const lo = utc(year, month - 1, day);
    const hi =
      mo === undefined
        ? utc(year + 1, 0, 1)
        : d === undefined
          ? utc(year, month, 1)
          : utc(year, month - 1, day + 1);
    return { lo: iso(lo), hi: iso(hi) };
  }
  if (Number(h) > 23 || Number(mi) > 59 || (s !== undefined && Number(s) > 59)) return undefined;
  if (
    zone !== undefined &&
    zone !== 'Z' &&
    (Number(zone.slice(1, 3)) > 14 || Number(zone.slice(4, 6)) > 59)
  ) {
    return undefined;
  }
  const offsetMinutes =
    zone === undefined || zone === 'Z'
      ? 0
      : (zone.startsWith('-') ? -1 : 1) * (Number(zone.slice(1, 3)) * 60 + Number(zone.slice(4, 6)));
  const millis = frac === undefined ? 0 : Number(frac.slice(0, 3).padEnd(3, '0'));
  const local = utc(year, month - 1, day, Number(h), Number(mi), s === undefined ? 0 : Number(s), millis);
  const lo = local - offsetMinutes * 60_000;
  const step = s === undefined ? 60_000 : frac === undefined ? 1_000 : 1;
  return { lo: iso(lo), hi: iso(lo + step) };
}
