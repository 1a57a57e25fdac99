import { Injectable } from '@nestjs/common';
import type { SqlExecutor } from '@hospital/platform';
import type { PurchaseOrder, PurchaseOrderStatus, Reorder, ReorderOrigin } from './purchase-order';

/** A reorder as the purchaser holds it: the need, its state and its current two-phase message attempt. */
export interface ReorderRecord extends Reorder {
  state: 'open' | 'ordered';
  generation: number;
  attempts: number;
}

interface ReorderRow {
  reorder_id: string;
  origin: ReorderOrigin;
  medication_code: string;
  location_id: string;
  quantity: number;
  state: 'open' | 'ordered';
  generation: number;
  attempts: number;
}

interface PurchaseOrderRow {
  purchase_order_id: string;
  reorder_id: string;
  gtid: string;
  medication_code: string;
  location_id: string;
  quantity: number;
  status: PurchaseOrderStatus;
  delivery_id: string | null;
}

const REORDER_COLUMNS =
  'reorder_id, origin, medication_code, location_id, quantity, state, generation, attempts';
const CLAIMED_COLUMNS = REORDER_COLUMNS.split(', ')
  .map((column) => `r.${column}`)
  .join(', ');
const ORDER_COLUMNS =
  'purchase_order_id, reorder_id, gtid, medication_code, location_id, quantity, status, delivery_id';

function reorderOf(row: ReorderRow): ReorderRecord {
  return {
    reorderId: row.reorder_id,
    origin: row.origin,
    medicationCode: row.medication_code,
    locationId: row.location_id,
    quantity: row.quantity,
    state: row.state,
    generation: row.generation,
    attempts: row.attempts,
  };
}

function orderOf(row: PurchaseOrderRow): PurchaseOrder {
  const order: PurchaseOrder = {
    purchaseOrderId: row.purchase_order_id,
    reorderId: row.reorder_id,
    gtid: row.gtid,
    medicationCode: row.medication_code,
    locationId: row.location_id,
    quantity: row.quantity,
    status: row.status,
  };
  if (row.delivery_id !== null) order.deliveryId = row.delivery_id;
  return order;
}

/** SQL of `supply_reorder` and `supply_purchase_order`. Every method runs on the executor it is given. */
@Injectable()
export class PurchasingRepository {
  /**
   * Records an open reorder unless its id is taken; true when this call recorded it. `leaseMs` (manual
   * orders) holds it for the caller, so the sweep does not place it at the same time.
   */
  async insertReorder(exec: SqlExecutor, reorder: Reorder, leaseMs?: number): Promise<boolean> {
    const rows = await exec.query(
      `INSERT INTO supply_reorder
         (reorder_id, origin, medication_code, location_id, quantity, state, attempts, lease_until)
       VALUES ($1, $2, $3, $4, $5, 'open', CASE WHEN $6::int IS NULL THEN 0 ELSE 1 END,
               CASE WHEN $6::int IS NULL THEN NULL ELSE now() + $6::int * interval '1 millisecond' END)
       ON CONFLICT (reorder_id) DO NOTHING
       RETURNING reorder_id`,
      [
        reorder.reorderId,
        reorder.origin,
        reorder.medicationCode,
        reorder.locationId,
        reorder.quantity,
        leaseMs ?? null,
      ],
    );
    return rows.length > 0;
  }

  async findReorder(exec: SqlExecutor, reorderId: string, lock = false): Promise<ReorderRecord | undefined> {
    const rows = await exec.query<ReorderRow>(
      `SELECT ${REORDER_COLUMNS} FROM supply_reorder WHERE reorder_id = $1${lock ? ' FOR UPDATE' : ''}`,
      [reorderId],
    );
    return rows[0] === undefined ? undefined : reorderOf(rows[0]);
  }

  /**
   * Claims up to `limit` open reorders no purchaser holds, for `leaseMs`: `FOR UPDATE SKIP LOCKED` keeps
   * replicas from claiming the same row at once, the lease keeps them off it while its message is sent.
   */
  async claimOpen(exec: SqlExecutor, limit: number, leaseMs: number): Promise<ReorderRecord[]> {
    const rows = await exec.query<ReorderRow>(
      `UPDATE supply_reorder r
         SET lease_until = now() + $2::int * interval '1 millisecond', attempts = r.attempts + 1
       FROM (
         SELECT reorder_id FROM supply_reorder
         WHERE state = 'open' AND (lease_until IS NULL OR lease_until <= now())
         ORDER BY created_at
         LIMIT $1
         FOR UPDATE SKIP LOCKED
       ) due
       WHERE r.reorder_id = due.reorder_id
       RETURNING ${CLAIMED_COLUMNS}`,
      [limit, leaseMs],
    );
    return rows.map(reorderOf);
  }

  /** Takes the lease of one open reorder (a manual order retried by its purchaser); undefined when held. */
  async claimOne(exec: SqlExecutor, reorderId: string, leaseMs: number): Promise<ReorderRecord | undefined> {
    const rows = await exec.query<ReorderRow>(
      `UPDATE supply_reorder
         SET lease_until = now() + $2::int * interval '1 millisecond', attempts = attempts + 1
       WHERE reorder_id = $1 AND state = 'open' AND (lease_until IS NULL OR lease_until <= now())
       RETURNING ${REORDER_COLUMNS}`,
      [reorderId, leaseMs],
    );
    return rows[0] === undefined ? undefined : reorderOf(rows[0]);
  }

  /** Inside the purchase order's local transaction: the reorder is ordered (lease and error cleared). */
  async markOrdered(exec: SqlExecutor, reorderId: string): Promise<void> {
    await exec.query(
      `UPDATE supply_reorder SET state = 'ordered', ordered_at = now(), lease_until = NULL, last_error = NULL
       WHERE reorder_id = $1`,
      [reorderId],
    );
  }

  /**
   * A placing attempt failed: the reorder is retried after `retryAfterMs`. With `nextGeneration` (the
   * message server settled this attempt's gtid as aborted), the next attempt uses the next gtid — only if
   * no other purchaser moved it on meanwhile.
   */
  async release(
    exec: SqlExecutor,
    reorder: Pick<ReorderRecord, 'reorderId' | 'generation'>,
    error: string,
    retryAfterMs: number,
    nextGeneration: boolean,
  ): Promise<void> {
    await exec.query(
      `UPDATE supply_reorder
         SET lease_until = now() + $3::int * interval '1 millisecond', last_error = $4,
             generation = generation + CASE WHEN $5::boolean THEN 1 ELSE 0 END
       WHERE reorder_id = $1 AND generation = $2 AND state = 'open'`,
      [reorder.reorderId, reorder.generation, retryAfterMs, error.slice(0, 500), nextGeneration],
    );
  }

  async insertPurchaseOrder(exec: SqlExecutor, order: PurchaseOrder): Promise<void> {
    await exec.query(
      `INSERT INTO supply_purchase_order
         (purchase_order_id, reorder_id, gtid, medication_code, location_id, quantity, status)
       VALUES ($1, $2, $3, $4, $5, $6, 'placed')`,
      [
        order.purchaseOrderId,
        order.reorderId,
        order.gtid,
        order.medicationCode,
        order.locationId,
        order.quantity,
      ],
    );
  }

  async findPurchaseOrder(
    exec: SqlExecutor,
    purchaseOrderId: string,
    lock = false,
  ): Promise<PurchaseOrder | undefined> {
    const rows = await exec.query<PurchaseOrderRow>(
      `SELECT ${ORDER_COLUMNS} FROM supply_purchase_order WHERE purchase_order_id = $1${lock ? ' FOR UPDATE' : ''}`,
      [purchaseOrderId],
    );
    return rows[0] === undefined ? undefined : orderOf(rows[0]);
  }

  async findPurchaseOrderOfReorder(exec: SqlExecutor, reorderId: string): Promise<PurchaseOrder | undefined> {
    const rows = await exec.query<PurchaseOrderRow>(
      `SELECT ${ORDER_COLUMNS} FROM supply_purchase_order WHERE reorder_id = $1`,
      [reorderId],
    );
    return rows[0] === undefined ? undefined : orderOf(rows[0]);
  }

  async completePurchaseOrder(exec: SqlExecutor, purchaseOrderId: string, deliveryId: string): Promise<void> {
    await exec.query(
      `UPDATE supply_purchase_order SET status = 'completed', delivery_id = $2, completed_at = now()
       WHERE purchase_order_id = $1 AND status = 'placed'`,
      [purchaseOrderId, deliveryId],
    );
  }
}
