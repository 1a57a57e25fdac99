import type { AuditRow } from '../trail/audit-event.repository';

/** The export's columns, in order: every field of a row and its chain links. */
export const CSV_COLUMNS = [
  'seq',
  'id',
  'recorded',
  'service',
  'actorKind',
  'actorId',
  'actorName',
  'actorRole',
  'action',
  'interaction',
  'resourceType',
  'resourceId',
  'patient',
  'gtid',
  'outcome',
  'status',
  'reason',
  'sourceAddress',
  'breakTheGlass',
  'storedAt',
  'prevHash',
  'hash',
] as const satisfies readonly (keyof AuditRow)[];

/**
 * One CSV field (RFC 4180): quoted when it holds a comma, a quote, CR or LF, quotes doubled. A text that a
 * spreadsheet would run as a formula (`=`, `+`, `-`, `@`, tab, CR first) is prefixed with `'` (OWASP CSV
 * injection); numbers are written as they are.
 */
export function csvField(value: string | number | null): string {
  if (value === null) return '';
  if (typeof value === 'number') return String(value);
  const safe = /^[=+\-@\t\r]/.test(value) ? `'${value}` : value;
  return /[",\r\n]/.test(safe) ? `"${safe.replace(/"/g, '""')}"` : safe;
}

export function csvLine(values: readonly (string | number | null)[]): string {
  return values.map(csvField).join(',');
}
