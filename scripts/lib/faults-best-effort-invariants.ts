// The invariants of best-effort notification, checked from the senders' logs (`tx_notification`,
// `tx_notification_attempt` of the ICU monitor and of appointments), the receivers' ledgers (the station's
// `icu_station_alert`, every message the SMTP sink accepted, every request the push gateway took) and the
// monitor's FHIR store — never through the services' internal classes:
//   - every alert and confirmation delivered exactly once after de-duplication, and nothing in a ledger
//     that was not logged (with the payload it was logged with);
//   - every Flag opened or closed, and every booking or cancellation the API confirmed, logged;
//   - attempts follow the back-off schedule of the sender's policy, one after another;
//   - exhausted notifications dead-lettered, and only those (or rejected ones);
//   - every vital the broker acknowledged to the bedside monitors stored by the ICU monitor.
import { backoffBounds } from '@hospital/transactions/best-effort/backoff';
import type { Finding, SenderPolicy } from './faults-best-effort-plan';
import type { ConfirmedChange } from './faults-best-effort-load';

export interface NotificationRow {
  id: string;
  key: string;
  channel: string;
  state: 'pending' | 'delivered' | 'dead-lettered';
  attempts: number;
  round_start: number;
  replays: number;
  payload: Record<string, unknown>;
}

export interface AttemptRow {
  id: string;
  attempt: number;
  started: number;
  finished: number | null;
  outcome: 'delivered' | 'failed' | 'rejected' | 'timeout' | 'abandoned' | null;
  delay: number | null;
}

export const NOTIFICATIONS_SQL = `SELECT id, idempotency_key AS key, channel, state, attempts, round_start, replays, payload
  FROM tx_notification ORDER BY position`;
export const ATTEMPTS_SQL = `SELECT notification_id AS id, attempt,
       (extract(epoch FROM started_at) * 1000)::float8 AS started,
       (extract(epoch FROM finished_at) * 1000)::float8 AS finished, outcome, retry_delay_ms AS delay
  FROM tx_notification_attempt ORDER BY notification_id, attempt`;

/**
 * Slack between an attempt's `finished_at` and the time its retry's due time was computed from, in ms: both
 * are `clock_timestamp()` of one statement (two of its CTEs), tens of ms apart on a loaded machine (42 ms
 * seen with a load of 10 on two cores). A retry that did not wait is early by its whole delay.
 */
const SLACK_MS = 250;

/**
 * What is wrong with one notification's attempts under `policy` (empty when nothing is): numbered 1…n,
 * none open once the notification is settled, each delay within the jitter's bounds (and, decorrelated,
 * at most three times the delay before), no attempt before the delay after the previous one passed (or,
 * after an abandoned one, before its lease ran out), nothing after the delivered one, no more than
 * `maxAttempts` in a round, and dead-lettered exactly when rejected or exhausted.
 */
export function attemptProblems(n: NotificationRow, attempts: readonly AttemptRow[], policy: SenderPolicy) {
  const problems: string[] = [];
  if (attempts.length !== n.attempts || attempts.some((a, i) => a.attempt !== i + 1))
    problems.push(
      `attempts recorded ${attempts.map((a) => a.attempt).join(',')} for a count of ${n.attempts}`,
    );
  const { backoff } = policy;
  let previousDelay: number | undefined;
  for (const [i, a] of attempts.entries()) {
    const next = attempts[i + 1];
    const round = a.attempt - n.round_start;
    if (a.outcome === null && n.state !== 'pending') problems.push(`attempt ${a.attempt} left open`);
    if (a.outcome === 'delivered' && next) problems.push(`attempt ${next.attempt} after the delivery`);
    if (a.delay !== null && n.replays === 0) {
      const bounds = backoffBounds(round, backoff);
      const high =
        backoff.jitter === 'decorrelated'
          ? Math.min(bounds.maxMs, 3 * Math.max(backoff.baseDelayMs, previousDelay ?? backoff.baseDelayMs))
          : bounds.maxMs;
      if (a.delay < bounds.minMs || a.delay > high)
        problems.push(`delay ${a.delay} ms after attempt ${a.attempt} outside ${bounds.minMs}…${high} ms`);
    }
    if (next && a.finished !== null && a.delay !== null && next.started + SLACK_MS < a.finished + a.delay)
      problems.push(
        `attempt ${next.attempt} began ${Math.round(a.finished + a.delay - next.started)} ms before its back-off of ${a.delay} ms passed`,
      );
    if (next && a.outcome === 'abandoned' && next.started + SLACK_MS < a.started + policy.leaseMs)
      problems.push(`attempt ${next.attempt} began within the lease of abandoned attempt ${a.attempt}`);
    if (a.delay !== null) previousDelay = a.delay;
  }
  const inRound = n.attempts - n.round_start;
  if (inRound > policy.maxAttempts) problems.push(`${inRound} attempts in a round of ${policy.maxAttempts}`);
  const last = attempts.at(-1);
  const failing = last !== undefined && last.outcome !== null && last.outcome !== 'delivered';
  if (n.state === 'dead-lettered' && !(last?.outcome === 'rejected' || inRound >= policy.maxAttempts))
    problems.push(`dead-lettered after ${inRound} attempts of ${policy.maxAttempts}, none rejected`);
  if (n.state === 'pending' && failing && inRound >= policy.maxAttempts)
    problems.push(`${inRound} attempts failed and still pending: exhausted, not dead-lettered`);
  if (n.state === 'delivered' && last?.outcome !== 'delivered')
    problems.push(`delivered, but its last attempt is ${last?.outcome ?? 'missing'}`);
  return problems;
}

/** A station ledger row. */
export interface StationRow {
  key: string;
  alert_id: string;
  level: string;
  bed_id: string;
  news2_total: number;
  received: number;
}

export const STATION_SQL = `SELECT idempotency_key AS key, alert_id, level, bed_id, news2_total,
       (extract(epoch FROM received_at) * 1000)::float8 AS received
  FROM icu_station_alert`;

/** A message the SMTP sink accepted (as `SmtpSink.received` holds it). */
export interface MailRow {
  messageId: string;
  idempotencyKey: string | undefined;
  to: string[];
}

export interface LedgerInput {
  monitor: { notifications: NotificationRow[]; attempts: AttemptRow[]; policy: SenderPolicy };
  appointments: { notifications: NotificationRow[]; attempts: AttemptRow[]; policy: SenderPolicy };
  station: StationRow[];
  mail: readonly MailRow[];
  /** Keys the push gateway took (it never should: it is down for good). */
  pushes: readonly string[];
  /** Flags in the monitor's store: id and status. */
  flags: { id: string; status: string }[];
  changes: readonly ConfirmedChange[];
  /** Channels that must be delivered by now (the rest may still be pending). */
  settledChannels: ReadonlySet<string>;
}

export interface LedgerEvaluation {
  findings: Finding[];
  /** Repeated deliveries the receivers absorbed. */
  duplicatesAbsorbed: number;
}

function byId<T extends { id: string }>(rows: readonly T[]): Map<string, T[]> {
  const map = new Map<string, T[]>();
  for (const row of rows) {
    const list = map.get(row.id);
    if (list) list.push(row);
    else map.set(row.id, [row]);
  }
  return map;
}

/** Checks every notification against its sender's policy and its receiver's ledger, and the reverse. */
export function evaluateLedgers(input: LedgerInput): LedgerEvaluation {
  const findings: Finding[] = [];
  const add = (key: string, kind: Finding['kind'], message: string): void => {
    findings.push({ key, kind, message });
  };
  let duplicatesAbsorbed = 0;

  for (const [sender, log] of [
    ['icu-monitor', input.monitor],
    ['appointments', input.appointments],
  ] as const) {
    const attempts = byId(log.attempts);
    for (const n of log.notifications) {
      for (const problem of attemptProblems(n, attempts.get(n.id) ?? [], log.policy))
        add(`schedule:${n.id}:${problem}`, 'violation', `${sender} ${n.channel} ${n.key}: ${problem}`);
      if (n.state === 'pending' && input.settledChannels.has(n.channel))
        add(`pending:${n.id}`, 'lost', `${sender} ${n.channel} ${n.key} still pending after the restore`);
      if (n.state === 'dead-lettered' && n.channel !== 'push')
        add(`dead:${n.id}`, 'lost', `${sender} ${n.channel} ${n.key} dead-lettered: its receiver came back`);
    }
  }

  // The station: one row per alert notification, with its payload; nothing else.
  const station = new Map(input.station.map((row) => [row.key, row]));
  const monitorAttempts = byId(input.monitor.attempts);
  const alertKeys = new Set<string>();
  for (const n of input.monitor.notifications) {
    alertKeys.add(n.key);
    const row = station.get(n.key);
    if (!row) {
      if (n.state !== 'pending' || input.settledChannels.has(n.channel))
        add(`station:${n.key}:lost`, 'lost', `alert ${n.key} (${n.state}) not in the station's ledger`);
      continue;
    }
    const p = n.payload;
    if (
      row.alert_id !== p.alertId ||
      row.level !== p.level ||
      row.bed_id !== p.bedId ||
      row.news2_total !== p.news2Total
    )
      add(`station:${n.key}:payload`, 'violation', `alert ${n.key}: the station holds another payload`);
    // Delivered by an attempt that began after the station already held it: a repeat it absorbed.
    const delivered = (monitorAttempts.get(n.id) ?? []).find((a) => a.outcome === 'delivered');
    if (delivered && row.received < delivered.started) duplicatesAbsorbed += 1;
  }
  const transitions = new Map<string, string>();
  for (const row of input.station) {
    if (!alertKeys.has(row.key))
      add(`station:${row.key}:unlogged`, 'violation', `the station holds ${row.key}, never logged`);
    const transition = `${row.alert_id}:${row.level}`;
    const other = transitions.get(transition);
    if (other !== undefined)
      add(`station:${transition}:twice`, 'duplicated', `alert ${transition} held as ${other} and ${row.key}`);
    transitions.set(transition, row.key);
  }
  for (const flag of input.flags) {
    for (const key of flag.status === 'inactive'
      ? [`${flag.id}:opened`, `${flag.id}:closed`]
      : [`${flag.id}:opened`])
      if (!alertKeys.has(key))
        add(`flag:${key}`, 'lost', `Flag ${flag.id} (${flag.status}): no notification ${key}`);
  }

  // The SMTP sink: every e-mail confirmation accepted, under one Message-ID, to its address; nothing else.
  const mail = new Map<string, MailRow[]>();
  for (const message of input.mail) {
    const key = message.idempotencyKey ?? '';
    const list = mail.get(key);
    if (list) list.push(message);
    else mail.set(key, [message]);
  }
  const emailKeys = new Set<string>();
  const pushKeys = new Set<string>();
  for (const n of input.appointments.notifications) {
    if (n.channel === 'push') {
      pushKeys.add(n.key);
      if (n.state === 'delivered')
        add(`push:${n.key}`, 'violation', `push ${n.key} delivered to a gateway that is down`);
      continue;
    }
    emailKeys.add(n.key);
    const copies = mail.get(n.key) ?? [];
    if (copies.length === 0) {
      if (n.state !== 'pending' || input.settledChannels.has(n.channel))
        add(`mail:${n.key}:lost`, 'lost', `e-mail ${n.key} (${n.state}) never reached the SMTP sink`);
      continue;
    }
    duplicatesAbsorbed += copies.length - 1;
    const ids = new Set(copies.map((m) => m.messageId));
    if (ids.size > 1)
      add(`mail:${n.key}:twice`, 'duplicated', `e-mail ${n.key} sent as ${ids.size} different messages`);
    if (copies.some((m) => m.to.length !== 1 || m.to[0] !== n.payload.address))
      add(`mail:${n.key}:address`, 'violation', `e-mail ${n.key} sent to another address than logged`);
  }
  for (const key of mail.keys())
    if (!emailKeys.has(key))
      add(
        `mail:${key}:unlogged`,
        'violation',
        `the SMTP sink took ${key || 'a mail without key'}, never logged`,
      );
  for (const key of input.pushes)
    add(`push:${key}:taken`, 'violation', `the push gateway took ${key} while down`);

  // Every change the API confirmed has its confirmations logged.
  for (const change of input.changes) {
    const prefix = `${change.appointmentId}:${change.event}:${change.versionId}`;
    for (const suffix of ['clinician:email', 'patient:email', 'patient:push']) {
      const key = `${prefix}:${suffix}`;
      if (!(suffix.endsWith('push') ? pushKeys : emailKeys).has(key))
        add(
          `change:${key}`,
          'lost',
          `${change.event} ${change.appointmentId} answered, no confirmation ${key} logged`,
        );
    }
  }
  return { findings, duplicatesAbsorbed };
}

/** Vitals of one trial: acknowledged identifiers against the identifiers stored (with their counts). */
export function vitalFindings(
  acked: ReadonlySet<string>,
  stored: ReadonlyMap<string, number>,
): { findings: Finding[]; storedTwice: number } {
  const findings: Finding[] = [];
  let storedTwice = 0;
  for (const id of acked)
    if (!stored.has(id))
      findings.push({
        key: `vital:${id}`,
        kind: 'lost',
        message: `vital ${id}: acknowledged by the broker, not stored`,
      });
  for (const count of stored.values()) if (count > 1) storedTwice += count - 1;
  return { findings, storedTwice };
}
