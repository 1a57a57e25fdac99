// PostgreSQL-side measurement for the bench: commit counters per database, and making sure they are
// complete before they are read. A backend reports its counters to pg_stat_database with a delay (at most
// once a second while busy, and an idle one may hold them for ten seconds or more); a backend that exits
// reports everything at once. So counters are read only when no connection to the measured databases is
// left: after the services stopped, or after their idle connections were terminated.
import { withClient } from './bench-cluster';

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** `xact_commit` of each database (every committed transaction, read-only ones and PREPARE TRANSACTION included). */
export async function readXactCommits(databases: readonly string[]): Promise<Record<string, number>> {
  return withClient('postgres', async (client) => {
    await client.query('SELECT pg_stat_clear_snapshot()');
    const rows = await client.query<{ datname: string; xact_commit: string }>(
      'SELECT datname, xact_commit FROM pg_stat_database WHERE datname = ANY($1)',
      [databases],
    );
    const result: Record<string, number> = {};
    for (const d of databases) result[d] = 0;
    for (const r of rows.rows) result[r.datname] = Number(r.xact_commit);
    return result;
  });
}

async function backendCount(databases: readonly string[]): Promise<number> {
  return withClient('postgres', async (client) => {
    const rows = await client.query<{ n: string }>(
      'SELECT count(*) AS n FROM pg_stat_activity WHERE datname = ANY($1) AND pid <> pg_backend_pid()',
      [databases],
    );
    return Number(rows.rows[0]?.n ?? 0);
  });
}

/**
 * Waits until no backend is connected to `databases` (their counters are then complete). With `terminate`,
 * ends the connections found on each round (a service's pool may open a new one in the meantime).
 */
export async function waitForNoBackends(
  databases: readonly string[],
  options: { terminate?: boolean; timeoutMs?: number } = {},
): Promise<void> {
  const timeoutMs = options.timeoutMs ?? 15_000;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (options.terminate) await terminateBackends(databases);
    const n = await backendCount(databases);
    if (n === 0) return;
    if (Date.now() >= deadline) {
      throw new Error(`${n} connection(s) to ${databases.join(', ')} still open after ${timeoutMs} ms`);
    }
    await sleep(100);
  }
}

/**
 * Ends every connection to `databases` (pg_terminate_backend), so each backend reports its counters as it
 * exits. Only for the bench's own databases, between phases, when the services are idle: their pools
 * replace the closed connections on the next request.
 */
export async function terminateBackends(databases: readonly string[]): Promise<number> {
  return withClient('postgres', async (client) => {
    const rows = await client.query<{ ok: boolean }>(
      `SELECT pg_terminate_backend(pid) AS ok FROM pg_stat_activity WHERE datname = ANY($1) AND pid <> pg_backend_pid()`,
      [databases],
    );
    return rows.rows.filter((r) => r.ok).length;
  });
}

/** Connections closed or terminated, then `xact_commit` per database. */
export async function settledXactCommits(
  databases: readonly string[],
  options: { terminate: boolean },
): Promise<Record<string, number>> {
  await waitForNoBackends(databases, { terminate: options.terminate });
  return readXactCommits(databases);
}

export function sumValues(record: Record<string, number>): number {
  return Object.values(record).reduce((a, b) => a + b, 0);
}
