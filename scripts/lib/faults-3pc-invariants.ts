// The invariants of a 3PC fault run, read straight from the three databases and telemedicine's transaction
// API: each consult completed in all three parts or in none (the EMR's DiagnosticReport, the inbox's
// Communication, telemedicine's completed request with its findings), each part at most once, a
// completion answered 200 applied everywhere and one answered 409 nowhere, telemedicine's record of the
// gtid committed exactly when the parts were applied, and no 3PC branch left prepared in any database.
import { clientConfig } from './bench-cluster';
import { DatabaseClients } from './database-clients';
import { getJson } from './bench-http';
import type { ConsultTrace, Finding } from './faults-3pc-plan';
import { CONSULT_SERVICES, type ConsultServiceName, type TelemedicineCluster } from './telemedicine-cluster';

/** What one database holds of one consult's completion. */
export interface PartState {
  /** Its part is there (telemedicine: the request completed). */
  applied: boolean;
  /** How many copies of the part's resource are there (one at most). */
  copies: number;
  /** Prepared 3PC branches of the consult's gtid. */
  prepared: number;
  /** `tx_3pc_branch` phase and `tx_participant_branch` state of the gtid, when there are rows. */
  phase?: string;
  branch?: string;
}

export interface ConsultState {
  parts: Record<ConsultServiceName, PartState>;
  /** telemedicine's `tx_global` state of the gtid. */
  logState?: string;
}

/** The part each service writes, counted by the request it is based on (telemedicine: its findings). */
const PART_SQL: Record<ConsultServiceName, string> = {
  emr: `SELECT count(*)::int AS n FROM fhir_resource
         WHERE resource_type = 'DiagnosticReport' AND NOT deleted AND content->'basedOn' @> $1::jsonb`,
  'referral-inbox': `SELECT count(*)::int AS n FROM fhir_resource
         WHERE resource_type = 'Communication' AND NOT deleted AND content->'basedOn' @> $1::jsonb`,
  telemedicine: `SELECT count(*)::int AS n FROM fhir_resource
         WHERE resource_type = 'DiagnosticReport' AND NOT deleted AND content->'basedOn' @> $1::jsonb`,
};

/** One connection to each of the run's databases, re-opened when one breaks. */
export class ConsultDatabases extends DatabaseClients<ConsultServiceName> {
  constructor(cluster: TelemedicineCluster) {
    super((service) => clientConfig(cluster.database(service)));
  }

  /** The gtid telemedicine minted for a completion sent with this correlation id, and its log state. */
  async logged(correlationId: string): Promise<{ gtid: string; state: string } | undefined> {
    const [row] = await this.rows<{ gtid: string; state: string }>(
      'telemedicine',
      `SELECT gtid, state FROM tx_global WHERE style = '3pc' AND correlation_id = $1`,
      [correlationId],
    );
    return row;
  }

  /** What each database holds of the consult (by its request, and by its gtid when known). */
  async state(trace: ConsultTrace): Promise<ConsultState> {
    const basedOn = JSON.stringify([{ reference: `ServiceRequest/${trace.serviceRequestId}` }]);
    const gtid = trace.gtid ?? '';
    const parts = {} as Record<ConsultServiceName, PartState>;
    for (const service of CONSULT_SERVICES) {
      const [{ n }] = await this.rows<{ n: number }>(service, PART_SQL[service], [basedOn]);
      const [tx] = await this.rows<{ prepared: number; phase: string | null; branch: string | null }>(
        service,
        `SELECT (SELECT count(*)::int FROM pg_prepared_xacts
                  WHERE database = current_database() AND gid LIKE '3pc|%' AND split_part(gid, '|', 3) = $1) AS prepared,
                (SELECT phase FROM tx_3pc_branch WHERE gtid = $1 LIMIT 1) AS phase,
                (SELECT state FROM tx_participant_branch WHERE gtid = $1 LIMIT 1) AS branch`,
        [gtid],
      );
      parts[service] = {
        applied: n > 0,
        copies: n,
        prepared: tx.prepared,
        ...(tx.phase ? { phase: tx.phase } : {}),
        ...(tx.branch ? { branch: tx.branch } : {}),
      };
    }
    // Telemedicine's part is the request completed; its findings are written in the same transaction.
    const [request] = await this.rows<{ status: string | null }>(
      'telemedicine',
      `SELECT content->>'status' AS status FROM fhir_resource WHERE resource_type = 'ServiceRequest' AND id = $1`,
      [trace.serviceRequestId],
    );
    parts.telemedicine.applied = request?.status === 'completed';
    const logged = trace.gtid
      ? (
          await this.rows<{ state: string }>('telemedicine', 'SELECT state FROM tx_global WHERE gtid = $1', [
            trace.gtid,
          ])
        )[0]
      : undefined;
    return { parts, ...(logged ? { logState: logged.state } : {}) };
  }

  /** Every 3PC branch still prepared in the run's databases, as `<service> <gid>`. */
  async preparedBranches(): Promise<string[]> {
    const found: string[] = [];
    for (const service of CONSULT_SERVICES) {
      const rows = await this.rows<{ gid: string }>(
        service,
        `SELECT gid FROM pg_prepared_xacts WHERE database = current_database() AND gid LIKE '3pc|%' ORDER BY prepared`,
      );
      found.push(...rows.map((r) => `${service} ${r.gid}`));
    }
    return found;
  }
}

/** What each database held, on one line: `emr applied, 0 prepared, phase precommitted, branch committed; …`. */
export function describeState(state: ConsultState): string {
  const parts = CONSULT_SERVICES.map((service) => {
    const p = state.parts[service];
    return `${service} ${p.applied ? 'applied' : 'not applied'}${p.copies > 1 ? ` (${p.copies} copies)` : ''}, ${p.prepared} prepared, phase ${p.phase ?? 'none'}, branch ${p.branch ?? 'none'}`;
  });
  return `${parts.join('; ')}; telemedicine log ${state.logState ?? 'none'}`;
}

/** Why the consult is not settled yet ('' once it is): a branch still prepared, or its log unfinished. */
export function unsettledReason(trace: ConsultTrace, state: ConsultState): string {
  const prepared = CONSULT_SERVICES.filter((s) => state.parts[s].prepared > 0);
  if (prepared.length > 0) return `${trace.serviceRequestId}: still prepared at ${prepared.join(', ')}`;
  if (trace.gtid && state.logState !== 'committed' && state.logState !== 'aborted')
    return `${trace.serviceRequestId}: telemedicine's log holds ${state.logState ?? 'nothing'}`;
  return '';
}

/** Every part applied, none, or a split. */
export function outcomeOf(state: ConsultState): 'committed' | 'aborted' | 'split' {
  const applied = CONSULT_SERVICES.map((s) => state.parts[s].applied);
  if (applied.every(Boolean)) return 'committed';
  return applied.some(Boolean) ? 'split' : 'aborted';
}

/** telemedicine's `/api/transactions?style=3pc` record of the completion sent with `correlationId`. */
export async function transactionRecord(
  cluster: TelemedicineCluster,
  correlationId: string,
): Promise<{ gtid: string; state: string }[] | undefined> {
  const listed = await getJson(
    `${cluster.url('telemedicine')}/api/transactions?style=3pc&correlationId=${encodeURIComponent(correlationId)}&limit=5`,
  );
  if (listed.status !== 200) return undefined;
  return JSON.parse(listed.body) as { gtid: string; state: string }[];
}

/**
 * The settled consult's findings: a split, a part applied twice, an answer its parts contradict, a record
 * that says otherwise, a gtid the answer and the log disagree on. `logged` is the log's gtid.
 */
export async function consultFindings(
  cluster: TelemedicineCluster,
  trace: ConsultTrace,
  state: ConsultState,
  logged: string | undefined,
): Promise<Finding[]> {
  const findings: Finding[] = [];
  const key = `consult:${trace.serviceRequestId}`;
  const about = `ServiceRequest/${trace.serviceRequestId} (gtid ${trace.gtid ?? 'none'}, answered ${trace.status ?? 'nothing'})`;
  const add = (kind: Finding['kind'], tag: string, message: string): void => {
    findings.push({ key: `${key}:${tag}`, kind, message: `${about}: ${message}: ${describeState(state)}` });
  };
  const outcome = outcomeOf(state);
  if (outcome === 'split') add('violation', 'split', 'the outcome split');
  for (const service of CONSULT_SERVICES)
    if (state.parts[service].copies > 1)
      add('duplicated', `dup:${service}`, `${service} holds its part ${state.parts[service].copies} times`);
  if (state.parts.telemedicine.applied !== state.parts.telemedicine.copies > 0)
    add('violation', 'record', "telemedicine's request and its findings disagree");
  if (trace.status === 200 && outcome !== 'committed')
    add('lost', 'lost', 'answered 200, but not every part is there');
  if (trace.status === 409 && outcome !== 'aborted') add('violation', 'refused', 'answered 409, yet applied');
  if (trace.gtid === undefined || logged === undefined) {
    if (outcome !== 'aborted') add('violation', 'no-gtid', 'applied without a transaction in the log');
    return findings;
  }
  if (trace.gtid !== logged) add('violation', 'gtid', `x-gtid says ${trace.gtid}, the log ${logged}`);
  const records = await transactionRecord(cluster, trace.correlationId);
  const record = records?.find((r) => r.gtid === logged);
  const expected = outcome === 'committed' ? 'committed' : 'aborted';
  if (record === undefined) add('violation', 'api', `/api/transactions does not list ${logged}`);
  else if (outcome !== 'split' && record.state !== expected)
    add('violation', 'api', `/api/transactions says ${record.state}, the parts say ${expected}`);
  return findings;
}
