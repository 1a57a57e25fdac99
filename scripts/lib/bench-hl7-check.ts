// The check after an `hl7` bench run, in the LIS's own database: every result the LIS acknowledged AA is
// there as exactly one DiagnosticReport, written once (version 1), listing as many Observations as the
// message had OBX segments, and those Observations exist; nothing exists for an order whose result was
// not sent. A result that failed (no ACK in time, connection broken) may or may not have been applied:
// it is counted apart, never as missing or extra.
import { withClient } from './bench-cluster';

/** What the bench sent for one order, and whether the LIS acknowledged it AA. */
export interface SentResult {
  observations: number;
  acknowledged: boolean;
}

export interface ResultCheck {
  /** Acknowledged results whose report, or some of whose Observations, are not in the store. */
  missing: number;
  /** Reports or Observations beyond what was sent: more than the OBX count, a report written twice, results for unsent orders. */
  extra: number;
  /** Results that failed at the bench (no AA) but were applied by the LIS all the same. */
  applied_unacknowledged: number;
  /** Inbox rows of the result listener (one per applied message). */
  inbox_rows: number;
  reports: number;
  observations: number;
}

interface ReportRow {
  order_ref: string | null;
  version_id: number;
  results: number;
}

/** Compares the LIS's store with what was sent, per order. */
export async function checkResults(
  database: string,
  sent: ReadonlyMap<string, SentResult>,
): Promise<ResultCheck> {
  return withClient(database, async (client) => {
    const reports = await client.query<ReportRow>(
      `SELECT content->'basedOn'->0->>'reference' AS order_ref, version_id,
              coalesce(jsonb_array_length(content->'result'), 0)::int AS results
         FROM fhir_resource WHERE resource_type = 'DiagnosticReport' AND NOT deleted`,
    );
    const observations = await client.query<{ order_ref: string | null; n: number }>(
      `SELECT content->'basedOn'->0->>'reference' AS order_ref, count(*)::int AS n
         FROM fhir_resource WHERE resource_type = 'Observation' AND NOT deleted GROUP BY 1`,
    );
    const [inbox] = (
      await client.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM tx_inbox WHERE consumer = 'hl7-results'`,
      )
    ).rows;
    const orderId = (ref: string | null): string => (ref ?? '').replace(/^ServiceRequest\//, '');
    const reportOf = new Map(reports.rows.map((r) => [orderId(r.order_ref), r]));
    const observationsOf = new Map(observations.rows.map((r) => [orderId(r.order_ref), r.n]));
    let missing = 0;
    let extra = 0;
    let appliedUnacknowledged = 0;
    for (const [id, result] of sent) {
      const report = reportOf.get(id);
      const stored = observationsOf.get(id) ?? 0;
      if (!result.acknowledged) {
        if (report) appliedUnacknowledged += 1;
      } else if (!report || report.results < result.observations || stored < result.observations) {
        missing += 1;
      }
      if (report && (report.version_id > 1 || report.results > result.observations)) extra += 1;
      else if (stored > result.observations) extra += 1;
    }
    for (const id of new Set([...reportOf.keys(), ...observationsOf.keys()])) if (!sent.has(id)) extra += 1;
    return {
      missing,
      extra,
      applied_unacknowledged: appliedUnacknowledged,
      inbox_rows: inbox?.n ?? 0,
      reports: reports.rows.length,
      observations: observations.rows.reduce((n, r) => n + r.n, 0),
    };
  });
}
