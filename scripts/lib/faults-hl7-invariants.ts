// The checks of one trial of the laboratory and imaging loop, read directly in the EMR's, the LIS's and the
// PACS's databases, the simulators' records and Orthanc: each order's result arrived once (lost /
// duplicated), every order completed everywhere, and nothing left dead-lettered, pending or prepared.
// Used by faults-hl7.ts.
import type { Client } from 'pg';
import { ORDER_RESULT_TYPE, orderResultAggregate } from '@hospital/fhir';
import type { TwoPhaseServiceName as ServiceName } from '../services';
import type { Finding, TrialOrders } from './faults-hl7-plan';

/** What the run's simulators and archive say about one trial's orders. */
export interface OutsideView {
  /** Distinct order messages (MSH-10s) the analyzer received for the laboratory order. */
  analyzerOrders: number;
  /** Results the analyzer had acknowledged during the trial. */
  analyzerResults: number;
  /** Analytes of the ordered panel: the Observations one result makes. */
  panelSize: number;
  /** Whether the modality acquired the imaging order's worklist entry, and how many studies it stored. */
  modalityAcquired: boolean;
  modalityStudies: number;
  /** Studies Orthanc holds with the accession number (undefined when it could not be asked). */
  archiveStudies?: number;
  /** The MSH-10 of the half frame written to the LIS listener, when the trial wrote one. */
  halfFrameControlId?: string;
}

type Query = <T extends object>(service: ServiceName, sql: string, parameters?: unknown[]) => Promise<T[]>;

const basedOn = (id: string): string => JSON.stringify([{ reference: `ServiceRequest/${id}` }]);

async function countBasedOn(
  query: Query,
  service: ServiceName,
  type: string,
  order: string,
): Promise<number> {
  const [row] = await query<{ n: number }>(
    service,
    `SELECT count(*)::int AS n FROM fhir_resource
      WHERE resource_type = $1 AND NOT deleted AND content->'basedOn' @> $2::jsonb`,
    [type, basedOn(order)],
  );
  return row.n;
}

async function orderStatus(query: Query, service: ServiceName, order: string): Promise<string | undefined> {
  const [row] = await query<{ status: string }>(
    service,
    `SELECT content->>'status' AS status FROM fhir_resource
      WHERE resource_type = 'ServiceRequest' AND id = $1 AND NOT deleted`,
    [order],
  );
  return row?.status;
}

/** The department's order-result events for `order`, and how many of them the EMR's inbox applied. */
async function resultEvents(
  query: Query,
  department: ServiceName,
  order: string,
): Promise<{ events: number; applied: number }> {
  const ids = (
    await query<{ id: string }>(
      department,
      `SELECT id FROM tx_outbox WHERE aggregate_id = $1 AND type = $2`,
      [orderResultAggregate(order), ORDER_RESULT_TYPE],
    )
  ).map((r) => r.id);
  const [row] = await query<{ n: number }>(
    'emr',
    `SELECT count(*)::int AS n FROM tx_inbox WHERE message_id = ANY($1) AND outcome = 'applied'`,
    [ids],
  );
  return { events: ids.length, applied: row.n };
}

/** Checks one trial's orders; `key` prefixes each finding's key. */
export async function checkTrialOrders(
  query: Query,
  key: string,
  orders: TrialOrders,
  outside: OutsideView,
): Promise<Finding[]> {
  const findings: Finding[] = [];
  const add = (kind: Finding['kind'], what: string, message: string): void => {
    findings.push({ key: `${key}:${what}`, kind, message });
  };
  const exactlyOne = (what: string, count: number, description: string): void => {
    if (count === 0) add('lost', what, `${description}: none`);
    if (count > 1) add('duplicated', what, `${description}: ${count}`);
  };

  // Laboratory: the analyzer got the order once, its result was applied once in the LIS and in the EMR.
  exactlyOne('analyzer-order', outside.analyzerOrders, 'order messages (MSH-10s) at the analyzer');
  exactlyOne('analyzer-result', outside.analyzerResults, 'results the analyzer had acknowledged');
  for (const service of ['lis', 'emr'] as const) {
    exactlyOne(
      `${service}-report`,
      await countBasedOn(query, service, 'DiagnosticReport', orders.lab),
      `DiagnosticReports in ${service}`,
    );
    const observations = await countBasedOn(query, service, 'Observation', orders.lab);
    if (observations < outside.panelSize)
      add(
        'lost',
        `${service}-observations`,
        `${observations} of ${outside.panelSize} Observations in ${service}`,
      );
    if (observations > outside.panelSize)
      add(
        'duplicated',
        `${service}-observations`,
        `${observations} Observations in ${service} for a panel of ${outside.panelSize}`,
      );
  }

  // Imaging: the modality stored the study once, the archive holds it once, the PACS and the EMR one each.
  if (!outside.modalityAcquired) add('lost', 'modality', 'the modality never stored the study');
  if (outside.modalityStudies > 1)
    add('duplicated', 'modality', `the modality stored ${outside.modalityStudies} studies`);
  if (outside.archiveStudies !== undefined && outside.archiveStudies > 1)
    add('duplicated', 'archive', `Orthanc holds ${outside.archiveStudies} studies of the accession number`);
  for (const service of ['pacs', 'emr'] as const)
    exactlyOne(
      `${service}-study`,
      await countBasedOn(query, service, 'ImagingStudy', orders.imaging),
      `ImagingStudies in ${service}`,
    );

  // One order-result event per order, applied once by the EMR's inbox.
  for (const [department, order] of [
    ['lis', orders.lab],
    ['pacs', orders.imaging],
  ] as const) {
    const { events, applied } = await resultEvents(query, department, order);
    exactlyOne(`${department}-event`, events, `order-result events of ${department}`);
    exactlyOne(`${department}-applied`, applied, `${department}'s order-result events the EMR applied`);
  }

  // Every order completed everywhere it is held.
  for (const [service, order] of [
    ['emr', orders.lab],
    ['emr', orders.imaging],
    ['lis', orders.lab],
    ['pacs', orders.imaging],
  ] as const) {
    const status = await orderStatus(query, service, order);
    if (status !== 'completed')
      add(
        'violation',
        `${service}-status-${order}`,
        `order ${order} is ${status ?? 'missing'} in ${service}`,
      );
  }
  const [imagingOrder] = await query<{ completed: boolean }>(
    'pacs',
    'SELECT completed_at IS NOT NULL AS completed FROM pacs_imaging_order WHERE service_request_id = $1',
    [orders.imaging],
  );
  if (imagingOrder?.completed !== true)
    add('violation', 'pacs-imaging-order', `the PACS's imaging order ${orders.imaging} is not completed`);

  if (outside.halfFrameControlId !== undefined) {
    const [half] = await query<{ n: number }>(
      'lis',
      'SELECT count(*)::int AS n FROM tx_inbox WHERE message_id LIKE $1',
      [`%|${outside.halfFrameControlId}`],
    );
    if (half.n > 0)
      add('violation', 'half-frame', `the LIS applied the half frame ${outside.halfFrameControlId}`);
  }
  return findings;
}

/** Anything dead-lettered, outbox rows not published and prepared transactions, in the run's databases. */
export async function checkRunState(query: Query, services: readonly ServiceName[]): Promise<Finding[]> {
  const findings: Finding[] = [];
  for (const service of services) {
    for (const row of await query<{ consumer: string; message_id: string; reason: string | null }>(
      service,
      `SELECT consumer, message_id, reason FROM tx_inbox WHERE outcome = 'dead-lettered'`,
    ))
      findings.push({
        key: `dead-lettered:${service}:${row.consumer}:${row.message_id}`,
        kind: 'violation',
        message: `${service} ${row.consumer} dead-lettered ${row.message_id}: ${row.reason ?? ''}`,
      });
    const [pending] = await query<{ n: number; types: string | null }>(
      service,
      `SELECT count(*)::int AS n, string_agg(DISTINCT type, ', ') AS types FROM tx_outbox WHERE published_at IS NULL`,
    );
    if (pending.n > 0)
      findings.push({
        key: `pending:${service}:${pending.n}`,
        kind: 'violation',
        message: `${pending.n} outbox row(s) of ${service} still pending (${pending.types ?? ''})`,
      });
    const [prepared] = await query<{ n: number }>(
      service,
      'SELECT count(*)::int AS n FROM pg_prepared_xacts WHERE database = current_database()',
    );
    if (prepared.n > 0)
      findings.push({
        key: `prepared:${service}:${prepared.n}`,
        kind: 'violation',
        message: `${prepared.n} prepared transaction(s) left in ${service}'s database`,
      });
  }
  return findings;
}

/** The Client-backed query of a lab with one connection per service. */
export function queryOver(clients: ReadonlyMap<ServiceName, Client>): Query {
  return async <T extends object>(service: ServiceName, sql: string, parameters: unknown[] = []) => {
    const client = clients.get(service);
    if (!client) throw new Error(`no connection to ${service}'s database`);
    return (await client.query<T>(sql, parameters)).rows;
  };
}
