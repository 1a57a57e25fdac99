import { randomUUID } from 'node:crypto';

/** HTTP header and message property that carry a global transaction id across services. */
export const GTID_HEADER = 'x-gtid';

/** What `isValidGtid` accepts. */
export const GTID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$/;

/** A new global transaction id. */
export function newGtid(): string {
  return randomUUID();
}

/** True for ids of at most 64 characters, safe to embed in a PostgreSQL GID, a log line and a URL path. */
export function isValidGtid(value: unknown): value is string {
  return typeof value === 'string' && GTID_PATTERN.test(value);
}
