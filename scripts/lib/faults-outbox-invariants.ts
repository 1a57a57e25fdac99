// The invariants of a fault run of the pharmacy's outbox chain (DESIGN.md section 3), checked directly in
// the five databases and on the broker: whether the chain is quiet yet, and what is lost, duplicated, left
// in doubt or otherwise wrong once it is.
/* eslint-disable no-restricted-imports -- the runner checks the parts' own invariants and speaks their FHIR */
import { AUDIT_RECORD_TYPE } from '@hospital/platform';
import { PharmacyEvent } from '../../apps/pharmacy/src/contracts/pharmacy-events';
import { RXNORM_SYSTEM } from '../../apps/pharmacy/src/dispensing/fhir-resources';
import { STOCK_INVARIANT_VIOLATIONS_SQL } from '../../apps/pharmacy/src/inventory/stock/stock-invariant';
/* eslint-enable no-restricted-imports */
import type { PharmacyServiceName } from '../services';
import type { Evaluation, Finding } from './faults-outbox-plan';
import { PHARMACY_QUEUES, PharmacyRole, queueDepths } from './pharmacy-cluster';

/** Rows of a query in one of the run's databases. */
export type QueryRows = <T extends object>(
  name: PharmacyServiceName,
  sql: string,
  parameters?: unknown[],
) => Promise<T[]>;

const lineKey = (medicationCode: string, locationId: string): string => `${medicationCode}@${locationId}`;

interface DispenseRow {
  id: string;
  medication_code: string | null;
  location_id: string | null;
  quantity: number | null;
  events: number;
}

interface MovementRow {
  message_id: string;
  kind: 'dispense' | 'delivery';
  reference_id: string;
  medication_code: string;
  location_id: string;
  quantity: number;
}

interface SupplierRow {
  purchase_order_id: string;
  reorder_id: string;
  medication_code: string;
  location_id: string;
  quantity: number;
  gtid: string;
  duplicate_receipts: number;
  delivery_id: string | null;
}

/** The processes that consume (and de-duplicate) messages. */
export const CONSUMER_ROLES: readonly PharmacyRole[] = ['inventory', 'supply-chain', 'supplier'];

/** The services whose outboxes a run relays, with the name their messages carry as `source` (app id). */
export const OUTBOX_SERVICES: readonly PharmacyServiceName[] = [
  'pharmacy',
  'pharmacy-inventory',
  'pharmacy-supply-chain',
  'pharmacy-supplier',
];

/**
 * Which outbox feeds which inbox: every message a producer's outbox holds must end in its consumer's inbox
 * (and the message server's delivered purchase orders in the supplier's).
 */
const FLOWS: readonly { from: PharmacyServiceName; type: string; to: keyof typeof PHARMACY_QUEUES }[] = [
  { from: 'pharmacy', type: PharmacyEvent.MedicationDispensed.type, to: 'dispenses' },
  { from: 'pharmacy-inventory', type: PharmacyEvent.StockLow.type, to: 'stockLow' },
  { from: 'pharmacy-supplier', type: PharmacyEvent.DeliveryShipped.type, to: 'deliveryShipped' },
  { from: 'pharmacy-supply-chain', type: PharmacyEvent.StockDelivered.type, to: 'deliveries' },
];

/** Why the chain is not quiet yet ('' when it is). */
export async function unquietReason(query: QueryRows, namespace: string): Promise<string> {
  const reasons: string[] = [];
  const outbox = new Map<string, number>();
  for (const service of OUTBOX_SERVICES) {
    const rows = await query<{ type: string; total: number; pending: number }>(
      service,
      // Audit records wait in the outbox while no audit service has bound its queue (the lab runs none):
      // the audit specs show their delivery, the chain's quiet is about the pharmacy's own messages.
      `SELECT type, count(*)::int AS total, count(*) FILTER (WHERE published_at IS NULL)::int AS pending
         FROM tx_outbox WHERE type <> $1 GROUP BY type`,
      [AUDIT_RECORD_TYPE],
    );
    for (const row of rows) {
      outbox.set(`${service}|${row.type}`, row.total);
      if (row.pending > 0) reasons.push(`${row.pending} ${row.type} unpublished in ${service}`);
    }
  }
  const inbox = new Map<string, number>();
  for (const service of ['pharmacy-inventory', 'pharmacy-supply-chain', 'pharmacy-supplier'] as const) {
    const rows = await query<{ consumer: string; n: number }>(
      service,
      'SELECT consumer, count(*)::int AS n FROM tx_inbox GROUP BY consumer',
    );
    for (const row of rows) inbox.set(row.consumer, row.n);
  }
  for (const flow of FLOWS) {
    const sent = outbox.get(`${flow.from}|${flow.type}`) ?? 0;
    const seen = inbox.get(PHARMACY_QUEUES[flow.to].queue) ?? 0;
    if (seen < sent)
      reasons.push(`${sent - seen} ${flow.type} not in ${PHARMACY_QUEUES[flow.to].queue}'s inbox`);
  }
  const messages = await query<{ state: string; n: number }>(
    'pharmacy-messages',
    'SELECT state, count(*)::int AS n FROM tx_message GROUP BY state',
  );
  const byState = new Map(messages.map((r) => [r.state, r.n]));
  for (const state of ['prepared', 'submitted'])
    if ((byState.get(state) ?? 0) > 0)
      reasons.push(`${byState.get(state)} purchase order message(s) ${state}`);
  const delivered = byState.get('delivered') ?? 0;
  const received = inbox.get(PHARMACY_QUEUES.purchaseOrders.queue) ?? 0;
  if (received < delivered)
    reasons.push(`${delivered - received} purchase order(s) not in the supplier's inbox`);
  const [open] = await query<{ n: number }>(
    'pharmacy-inventory',
    `SELECT count(*)::int AS n FROM inventory_reorder WHERE status = 'open'`,
  );
  if (open.n > 0) reasons.push(`${open.n} reorder(s) open in inventory`);
  const [unordered] = await query<{ n: number }>(
    'pharmacy-supply-chain',
    `SELECT count(*)::int AS n FROM supply_reorder WHERE state = 'open'`,
  );
  if (unordered.n > 0) reasons.push(`${unordered.n} reorder(s) without a purchase order`);
  const [unshipped] = await query<{ n: number }>(
    'pharmacy-supplier',
    'SELECT count(*)::int AS n FROM supplier_purchase_order WHERE shipped_at IS NULL',
  );
  if (unshipped.n > 0) reasons.push(`${unshipped.n} order(s) not shipped`);
  if (reasons.length === 0) {
    for (const depth of await queueDepths(namespace))
      if (depth.ready > 0) reasons.push(`${depth.ready} message(s) ready in ${depth.queue}`);
  }
  return reasons.join('; ');
}

/** Checks every invariant on the databases as they stand (and the dead-letter queues). */
export async function evaluateOutboxInvariants(query: QueryRows, namespace: string): Promise<Evaluation> {
  const findings: Finding[] = [];
  const add = (kind: Finding['kind'], key: string, message: string): void => {
    findings.push({ kind, key, message });
  };

  // Committed dispenses, each with its one outbox event.
  const dispenses = await query<DispenseRow>(
    'pharmacy',
    `SELECT r.id,
            (SELECT c->>'code' FROM jsonb_array_elements(r.content->'medicationCodeableConcept'->'coding') c
              WHERE c->>'system' = $1 LIMIT 1) AS medication_code,
            substring(r.content->'location'->>'reference' from '^Location/(.+)$') AS location_id,
            (r.content->'quantity'->>'value')::int AS quantity,
            coalesce(e.n, 0) AS events
       FROM fhir_resource r
       LEFT JOIN (SELECT payload->>'dispenseId' AS id, count(*)::int AS n FROM tx_outbox
                   WHERE type = $2 GROUP BY 1) e ON e.id = r.id
      WHERE r.resource_type = 'MedicationDispense' AND NOT r.deleted`,
    [RXNORM_SYSTEM, PharmacyEvent.MedicationDispensed.type],
  );
  const movements = await query<MovementRow>(
    'pharmacy-inventory',
    `SELECT message_id, kind, reference_id, medication_code, location_id, quantity FROM inventory_movement`,
  );
  const applied = new Map<string, MovementRow[]>();
  for (const m of movements) {
    const key = `${m.kind}:${m.reference_id}`;
    applied.set(key, [...(applied.get(key) ?? []), m]);
  }
  const dispensed = new Map<string, number>();
  const dispenseIds = new Set<string>();
  for (const d of dispenses) {
    dispenseIds.add(d.id);
    const line = lineKey(d.medication_code ?? '?', d.location_id ?? '?');
    dispensed.set(line, (dispensed.get(line) ?? 0) + (d.quantity ?? 0));
    if (d.events === 0)
      add('lost', `dispense:${d.id}`, `dispense ${d.id} committed without its outbox event`);
    if (d.events > 1)
      add('duplicated', `dispense-event:${d.id}`, `dispense ${d.id} has ${d.events} outbox events`);
    const rows = applied.get(`dispense:${d.id}`) ?? [];
    if (rows.length === 0)
      add('lost', `dispense:${d.id}`, `dispense ${d.id} (${line}) never applied in inventory`);
    if (rows.length > 1)
      add('duplicated', `dispense:${d.id}`, `dispense ${d.id} applied ${rows.length} times in inventory`);
    for (const m of rows) {
      if (lineKey(m.medication_code, m.location_id) !== line || m.quantity !== d.quantity) {
        add(
          'violation',
          `dispense-mismatch:${d.id}`,
          `dispense ${d.id} (${d.quantity} of ${line}) applied as ${m.quantity} of ${lineKey(m.medication_code, m.location_id)}`,
        );
      }
    }
  }
  for (const m of movements) {
    if (m.kind === 'dispense' && !dispenseIds.has(m.reference_id))
      add(
        'violation',
        `phantom-dispense:${m.reference_id}`,
        `inventory applied unknown dispense ${m.reference_id}`,
      );
  }

  // What the supplier shipped, each delivery received once by the supply chain and applied once in inventory.
  const supplier = await query<SupplierRow>(
    'pharmacy-supplier',
    `SELECT purchase_order_id, reorder_id, medication_code, location_id, quantity, gtid, duplicate_receipts,
            delivery_id
       FROM supplier_purchase_order`,
  );
  const orders = await query<{
    purchase_order_id: string;
    reorder_id: string;
    gtid: string;
    status: string;
    delivery_id: string | null;
  }>(
    'pharmacy-supply-chain',
    'SELECT purchase_order_id, reorder_id, gtid, status, delivery_id FROM supply_purchase_order',
  );
  const orderByReorder = new Map(orders.map((o) => [o.reorder_id, o]));
  const orderById = new Map(orders.map((o) => [o.purchase_order_id, o]));
  const delivered = new Map<string, number>();
  const deliveryIds = new Set<string>();
  for (const s of supplier) {
    if (s.delivery_id === null) continue;
    deliveryIds.add(s.delivery_id);
    const line = lineKey(s.medication_code, s.location_id);
    delivered.set(line, (delivered.get(line) ?? 0) + s.quantity);
    const order = orderById.get(s.purchase_order_id);
    if (order?.status !== 'completed' || order.delivery_id !== s.delivery_id)
      add(
        'lost',
        `receipt:${s.delivery_id}`,
        `delivery ${s.delivery_id} of ${s.purchase_order_id} not received by the supply chain`,
      );
    const rows = applied.get(`delivery:${s.delivery_id}`) ?? [];
    if (rows.length === 0)
      add(
        'lost',
        `delivery:${s.delivery_id}`,
        `delivery ${s.delivery_id} (${s.quantity} of ${line}) never applied in inventory`,
      );
    if (rows.length > 1)
      add(
        'duplicated',
        `delivery:${s.delivery_id}`,
        `delivery ${s.delivery_id} applied ${rows.length} times in inventory`,
      );
  }
  for (const m of movements) {
    if (m.kind === 'delivery' && !deliveryIds.has(m.reference_id))
      add(
        'violation',
        `phantom-delivery:${m.reference_id}`,
        `inventory applied delivery ${m.reference_id} the supplier never shipped`,
      );
  }

  // Stock = initial − dispensed + delivered, for every drug at every location.
  const stock = await query<{
    medication_code: string;
    location_id: string;
    initial_on_hand: number;
    on_hand: number;
  }>(
    'pharmacy-inventory',
    'SELECT medication_code, location_id, initial_on_hand, on_hand FROM inventory_stock',
  );
  const stocked = new Set<string>();
  for (const s of stock) {
    const line = lineKey(s.medication_code, s.location_id);
    stocked.add(line);
    const expected = s.initial_on_hand - (dispensed.get(line) ?? 0) + (delivered.get(line) ?? 0);
    if (s.on_hand !== expected) {
      add(
        'violation',
        `stock:${line}`,
        `${line}: on hand ${s.on_hand}, but initial ${s.initial_on_hand} − dispensed ${dispensed.get(line) ?? 0} + delivered ${delivered.get(line) ?? 0} = ${expected}`,
      );
    }
  }
  for (const line of [...dispensed.keys(), ...delivered.keys()])
    if (!stocked.has(line)) add('violation', `unstocked:${line}`, `${line} moved but is not a stock line`);
  for (const row of await query<{
    medication_code: string;
    location_id: string;
    on_hand: number;
    expected: number;
  }>('pharmacy-inventory', STOCK_INVARIANT_VIOLATIONS_SQL)) {
    const line = lineKey(row.medication_code, row.location_id);
    add(
      'violation',
      `ledger:${line}`,
      `${line}: on hand ${row.on_hand} disagrees with the inventory's own ledger (${row.expected})`,
    );
  }

  // Every reorder: one purchase order at the supply chain, received once by the supplier, closed.
  const reorders = await query<{
    reorder_id: string;
    status: string;
    medication_code: string;
    location_id: string;
  }>('pharmacy-inventory', 'SELECT reorder_id, status, medication_code, location_id FROM inventory_reorder');
  const supplyReorders = new Set(
    (
      await query<{ reorder_id: string }>('pharmacy-supply-chain', 'SELECT reorder_id FROM supply_reorder')
    ).map((r) => r.reorder_id),
  );
  const supplierByReorder = new Map<string, SupplierRow[]>();
  for (const s of supplier)
    supplierByReorder.set(s.reorder_id, [...(supplierByReorder.get(s.reorder_id) ?? []), s]);
  const reorderIds = new Set<string>();
  for (const r of reorders) {
    reorderIds.add(r.reorder_id);
    const line = lineKey(r.medication_code, r.location_id);
    if (!supplyReorders.has(r.reorder_id))
      add(
        'lost',
        `reorder:${r.reorder_id}`,
        `reorder ${r.reorder_id} (${line}) never reached the supply chain`,
      );
    else if (!orderByReorder.has(r.reorder_id))
      add('lost', `reorder:${r.reorder_id}`, `reorder ${r.reorder_id} (${line}) has no purchase order`);
    const received = supplierByReorder.get(r.reorder_id) ?? [];
    if (orderByReorder.has(r.reorder_id) && received.length === 0)
      add(
        'lost',
        `order:${r.reorder_id}`,
        `purchase order of reorder ${r.reorder_id} (${line}) never reached the supplier`,
      );
    if (received.length > 1)
      add(
        'duplicated',
        `order:${r.reorder_id}`,
        `reorder ${r.reorder_id} reached the supplier as ${received.length} purchase orders`,
      );
    const repeats = received.reduce((n, s) => n + s.duplicate_receipts, 0);
    if (repeats > 0)
      add(
        'duplicated',
        `order-sent:${r.reorder_id}`,
        `purchase order of reorder ${r.reorder_id} sent to the supplier ${repeats + 1} times under different message ids`,
      );
    if (r.status !== 'closed')
      add('violation', `reorder-open:${r.reorder_id}`, `reorder ${r.reorder_id} (${line}) is still open`);
  }
  for (const id of supplyReorders)
    if (!reorderIds.has(id))
      add(
        'violation',
        `phantom-reorder:${id}`,
        `supply chain holds reorder ${id} that inventory never opened`,
      );

  // Two-phase messages: none left prepared or submitted; delivered exactly when the local transaction committed.
  const messages = await query<{ gtid: string; state: string }>(
    'pharmacy-messages',
    'SELECT gtid, state FROM tx_message',
  );
  const committed = new Set(orders.map((o) => o.gtid));
  let inDoubt = 0;
  const messageState = new Map(messages.map((m) => [m.gtid, m.state]));
  for (const m of messages) {
    if (m.state === 'prepared' || m.state === 'submitted') {
      inDoubt += 1;
      add('in-doubt', `message:${m.gtid}`, `two-phase message ${m.gtid} left ${m.state}`);
    }
    if (m.state === 'delivered' && !committed.has(m.gtid))
      add(
        'violation',
        `uncommitted-delivered:${m.gtid}`,
        `message ${m.gtid} delivered but no purchase order committed with it`,
      );
  }
  for (const o of orders) {
    const state = messageState.get(o.gtid);
    if (state === 'aborted' || state === undefined)
      add(
        'lost',
        `order-message:${o.gtid}`,
        `purchase order ${o.purchase_order_id} committed but its message is ${state ?? 'unknown to the server'}`,
      );
  }

  // Nothing dead-lettered.
  for (const service of ['pharmacy-inventory', 'pharmacy-supply-chain', 'pharmacy-supplier'] as const) {
    for (const row of await query<{ consumer: string; message_id: string; reason: string | null }>(
      service,
      `SELECT consumer, message_id, reason FROM tx_inbox WHERE outcome = 'dead-lettered'`,
    )) {
      add(
        'violation',
        `dead-lettered:${row.consumer}:${row.message_id}`,
        `${row.consumer} dead-lettered ${row.message_id}: ${row.reason ?? ''}`,
      );
    }
  }
  const depths = await queueDepths(namespace).catch(() => undefined);
  for (const depth of depths ?? [])
    if (depth.deadLetters > 0)
      add(
        'violation',
        `dead-letter-queue:${depth.queue}`,
        `${depth.deadLetters} message(s) in ${depth.queue}'s dead-letter queue`,
      );

  return {
    findings,
    dispenses: dispenses.length,
    purchaseOrders: orders.length,
    deliveries: deliveryIds.size,
    inDoubt,
  };
}
