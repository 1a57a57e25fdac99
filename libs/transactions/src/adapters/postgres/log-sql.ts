import type { QueryResultRow } from 'pg';
import type { Database } from '@hospital/platform';
import type { TransactionQuery } from '../../ports/global-transaction';

/** SQL fragments shared by the leased PostgreSQL logs (`tx_saga`, `tx_tcc`), and what their browsers share. */

/** One timeline entry whose text is parameter `$n`, appended with `timeline || …`. */
export const timelineEvent = (n: number): string =>
  `jsonb_build_array(jsonb_build_object('at', now(), 'event', $${n}::text))`;

/**
 * A log's first timeline entry (`$n` its text), carrying the trace id of parameter `$t` when it is not
 * null: what `traceIdOf` reads back.
 */
export const startEvent = (n: number, t: number): string =>
  `jsonb_build_array(jsonb_strip_nulls(jsonb_build_object('at', now(), 'event', $${n}::text, 'traceId', $${t}::text)))`;

/** One timeline entry as a log stores it: the first may carry the trace id of the request that started it. */
export interface StoredTimelineEntry {
  at: string;
  event: string;
  traceId?: unknown;
}

const TRACE_ID = /^[0-9a-f]{32}$/;

/** The trace id a log's first timeline entry carries, as `/api/transactions` shows it (`traceId`). */
export function traceIdOf(timeline: readonly StoredTimelineEntry[]): { traceId?: string } {
  const traceId = timeline[0]?.traceId;
  return typeof traceId === 'string' && TRACE_ID.test(traceId) ? { traceId } : {};
}

/** The end of a lease (or back-off) of parameter `$n` milliseconds from now. */
export const msFromNow = (n: number): string => `now() + $${n}::float8 * interval '1 millisecond'`;

/** An instant as `/api/transactions` shows it (ISO 8601, UTC), from a column or a timeline's JSON. */
export const isoInstant = (at: Date | string): string => new Date(at).toISOString();

/**
 * One page of a log table for `/api/transactions`: `columns` of `table` (a log keyed by gtid with `state`,
 * `created_at` and `correlation_id`), filtered by the query's state, `before` and correlation id, newest
 * first, at most `limit` rows: all in SQL, on the table's created-at and correlation indexes.
 */
export function browsedRows<R extends QueryResultRow>(
  db: Database,
  table: string,
  columns: string,
  query: TransactionQuery,
): Promise<R[]> {
  return db.query<R>(
    `SELECT ${columns} FROM ${table}
      WHERE ($1::text IS NULL OR state = $1) AND ($2::timestamptz IS NULL OR created_at < $2)
        AND ($3::text IS NULL OR correlation_id = $3)
      ORDER BY created_at DESC LIMIT $4`,
    [query.state ?? null, query.before ?? null, query.correlationId ?? null, query.limit],
  );
}

/** A log row's `lastError` as listed: its last recorded error, else the reason it ended with. */
export function lastErrorOf(row: { last_error: string | null; reason: string | null }): {
  lastError?: string;
} {
  const error = row.last_error ?? row.reason;
  return error === null ? {} : { lastError: error };
}
