import { Database } from '@hospital/platform';
import { AttemptOutcome, NotificationState } from '../../ports/best-effort.ports';
import { ListedTransaction, TransactionBrowser, TransactionQuery } from '../../ports/global-transaction';
import { isoInstant } from './log-sql';

/** One notification of a transaction, with its attempts: never the payload (it may hold patient data). */
interface BrowsedNotificationRow {
  gtid: string;
  receiver: string;
  channel: string;
  type: string;
  state: NotificationState;
  attempts: number;
  last_error: string | null;
  created_at: Date;
  delivered_at: Date | null;
  dead_lettered_at: Date | null;
  attempt_log: {
    attempt: number;
    started_at: string;
    finished_at: string | null;
    outcome: AttemptOutcome | null;
    error: string | null;
  }[];
}

/** A transaction's notifications (`tx_notification` rows sharing its gtid), with their attempts. */
const NOTIFICATIONS = `SELECT n.gtid, n.receiver, n.channel, n.type, n.state, n.attempts, n.last_error,
         n.created_at, n.delivered_at, n.dead_lettered_at,
         COALESCE((SELECT jsonb_agg(jsonb_build_object('attempt', a.attempt, 'started_at', a.started_at,
                                                       'finished_at', a.finished_at, 'outcome', a.outcome,
                                                       'error', a.error) ORDER BY a.attempt)
                     FROM tx_notification_attempt a WHERE a.notification_id = n.id), '[]') AS attempt_log
    FROM tx_notification n`;

/**
 * The transactions, one per gtid: created when its first notification was, `pending` while one of its
 * notifications is, else `dead-lettered` while one is, else `delivered`.
 */
const TRANSACTIONS = `SELECT gtid, min(created_at) AS created_at,
         CASE WHEN bool_or(state = 'pending') THEN 'pending'
              WHEN bool_or(state = 'dead-lettered') THEN 'dead-lettered'
              ELSE 'delivered' END AS state
    FROM tx_notification GROUP BY gtid`;

type Entry = { at: Date; event: string };

/** One notification's life as its row and its attempts' rows tell it; `prefix` names it among several. */
function notificationEvents(row: BrowsedNotificationRow, prefix: string): Entry[] {
  const entries: Entry[] = [
    {
      at: row.created_at,
      event: prefix
        ? `${prefix}written: ${row.type}`
        : `written: ${row.type} for ${row.receiver} via ${row.channel}`,
    },
  ];
  for (const attempt of row.attempt_log) {
    if (attempt.finished_at === null)
      entries.push({
        at: new Date(attempt.started_at),
        event: `${prefix}attempt ${attempt.attempt} in flight`,
      });
    else if (attempt.outcome !== 'delivered')
      entries.push({
        at: new Date(attempt.finished_at),
        event: `${prefix}attempt ${attempt.attempt} ${attempt.outcome ?? 'ended'}${attempt.error ? `: ${attempt.error}` : ''}`,
      });
  }
  // The end is stamped by PostgreSQL at its transaction's start, the attempt's by its own clock: an end is
  // never shown before the attempt that led to it.
  const lastAt = entries.reduce((latest, entry) => Math.max(latest, entry.at.getTime()), 0);
  const ending = (at: Date): Date => new Date(Math.max(at.getTime(), lastAt));
  if (row.dead_lettered_at !== null)
    entries.push({
      at: ending(row.dead_lettered_at),
      event: `${prefix}dead-lettered${row.state === 'dead-lettered' && row.last_error ? `: ${row.last_error}` : ''}`,
    });
  if (row.delivered_at !== null) {
    const by = row.attempt_log.find((attempt) => attempt.outcome === 'delivered')?.attempt ?? row.attempts;
    entries.push({ at: ending(row.delivered_at), event: `${prefix}delivered (attempt ${by})` });
  }
  return entries;
}

const STATES: readonly NotificationState[] = ['pending', 'dead-lettered', 'delivered'];

/** The transaction of one gtid's notifications (in the order they were written). */
function toListed(rows: readonly BrowsedNotificationRow[]): ListedTransaction {
  const [first] = rows;
  const several = rows.length > 1;
  const entries = rows
    .flatMap((row) => notificationEvents(row, several ? `${row.receiver} via ${row.channel}: ` : ''))
    // Stable: entries of one instant stay in the order they happened in.
    .sort((a, b) => a.at.getTime() - b.at.getTime());
  const state = STATES.find((s) => rows.some((row) => row.state === s)) ?? first.state;
  const lastError = rows.find((row) => row.state !== 'delivered' && row.last_error !== null)?.last_error;
  return {
    gtid: first.gtid,
    style: 'best-effort',
    state,
    branches: rows.map((row) => ({
      participant: row.receiver,
      step: row.channel,
      state: row.state,
      ...(row.last_error === null ? {} : { reason: row.last_error }),
    })),
    timeline: entries.map(({ at, event }) => ({ at: isoInstant(at), event })),
    retries: rows.reduce((sum, row) => sum + Math.max(0, row.attempts - 1), 0),
    ...(lastError ? { lastError } : {}),
    createdAt: new Date(Math.min(...rows.map((row) => row.created_at.getTime()))).toISOString(),
    updatedAt: isoInstant(entries[entries.length - 1].at),
  };
}

/**
 * The best-effort notification log as `/api/transactions` lists it (style `best-effort`): one transaction
 * per gtid — the change that wrote its notifications, usually one — in the state of its notifications
 * (`pending`, `dead-lettered`, `delivered`), each notification a branch at its receiver through its
 * channel, and a timeline of its writing, each failed or unfinished attempt with its outcome and error, its
 * dead-lettering and its delivery. Notifications carry no correlation id: a query by one lists none.
 * Filtered, grouped and limited in SQL; a gtid is found through `tx_notification_gtid`.
 */
export class PostgresNotificationBrowser implements TransactionBrowser {
  constructor(private readonly db: Database) {}

  async list(query: TransactionQuery): Promise<ListedTransaction[]> {
    if (query.style !== undefined && query.style !== 'best-effort') return [];
    if (query.correlationId !== undefined) return [];
    const rows = await this.db.query<BrowsedNotificationRow>(
      `WITH listed AS (
         SELECT gtid, created_at FROM (${TRANSACTIONS}) t
          WHERE ($1::text IS NULL OR state = $1) AND ($2::timestamptz IS NULL OR created_at < $2)
          ORDER BY created_at DESC, gtid LIMIT $3)
       ${NOTIFICATIONS} JOIN listed USING (gtid)
        ORDER BY listed.created_at DESC, n.gtid, n.position`,
      [query.state ?? null, query.before ?? null, query.limit],
    );
    const byGtid = new Map<string, BrowsedNotificationRow[]>();
    for (const row of rows) byGtid.set(row.gtid, [...(byGtid.get(row.gtid) ?? []), row]);
    return [...byGtid.values()].map(toListed);
  }

  async get(gtid: string): Promise<ListedTransaction | undefined> {
    const rows = await this.db.query<BrowsedNotificationRow>(
      `${NOTIFICATIONS} WHERE n.gtid = $1 ORDER BY n.position`,
      [gtid],
    );
    return rows.length === 0 ? undefined : toListed(rows);
  }
}
