import { Injectable } from '@nestjs/common';
import type { SqlExecutor } from '@hospital/platform';
import type { SupplierOrder } from './shipment';

/** A booked order that is due to ship, with the gtid its purchase order came with. */
export interface DueOrder extends SupplierOrder {
  gtid: string;
}

interface OrderRow {
  purchase_order_id: string;
  reorder_id: string;
  medication_code: string;
  location_id: string;
  quantity: number;
  gtid: string;
}

const COLUMNS = 'purchase_order_id, reorder_id, medication_code, location_id, quantity, gtid';

function orderOf(row: OrderRow): DueOrder {
  return {
    purchaseOrderId: row.purchase_order_id,
    reorderId: row.reorder_id,
    medicationCode: row.medication_code,
    locationId: row.location_id,
    quantity: row.quantity,
    gtid: row.gtid,
  };
}

/** SQL of `supplier_purchase_order`. Every method runs on the executor it is given. */
@Injectable()
export class SupplierRepository {
  /** Books an order, due to ship `delayMs` from now; returns its due time, or undefined when already booked. */
  async book(
    exec: SqlExecutor,
    order: SupplierOrder,
    receipt: { gtid: string; messageId: string },
    delayMs: number,
  ): Promise<Date | undefined> {
    const rows = await exec.query<{ ship_due_at: Date }>(
      `INSERT INTO supplier_purchase_order
         (purchase_order_id, reorder_id, medication_code, location_id, quantity, gtid, message_id, ship_due_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7, now() + $8::int * interval '1 millisecond')
       ON CONFLICT (purchase_order_id) DO NOTHING
       RETURNING ship_due_at`,
      [
        order.purchaseOrderId,
        order.reorderId,
        order.medicationCode,
        order.locationId,
        order.quantity,
        receipt.gtid,
        receipt.messageId,
        delayMs,
      ],
    );
    return rows[0]?.ship_due_at;
  }

  async find(exec: SqlExecutor, purchaseOrderId: string): Promise<DueOrder | undefined> {
    const rows = await exec.query<OrderRow>(
      `SELECT ${COLUMNS} FROM supplier_purchase_order WHERE purchase_order_id = $1`,
      [purchaseOrderId],
    );
    return rows[0] === undefined ? undefined : orderOf(rows[0]);
  }

  /** The order arrived again under another message id: counted, so a checker sees it was sent twice. */
  async countRepeat(exec: SqlExecutor, purchaseOrderId: string): Promise<void> {
    await exec.query(
      `UPDATE supplier_purchase_order SET duplicate_receipts = duplicate_receipts + 1 WHERE purchase_order_id = $1`,
      [purchaseOrderId],
    );
  }

  /**
   * Inside the shipping transaction: locks up to `limit` unshipped orders whose time has come, skipping
   * rows another replica's sweep holds.
   */
  async claimDue(exec: SqlExecutor, limit: number): Promise<DueOrder[]> {
    const rows = await exec.query<OrderRow>(
      `SELECT ${COLUMNS} FROM supplier_purchase_order
       WHERE shipped_at IS NULL AND ship_due_at <= now()
       ORDER BY ship_due_at
       LIMIT $1
       FOR UPDATE SKIP LOCKED`,
      [limit],
    );
    return rows.map(orderOf);
  }

  async markShipped(exec: SqlExecutor, purchaseOrderId: string, deliveryId: string): Promise<void> {
    await exec.query(
      `UPDATE supplier_purchase_order SET shipped_at = now(), delivery_id = $2
       WHERE purchase_order_id = $1 AND shipped_at IS NULL`,
      [purchaseOrderId, deliveryId],
    );
  }
}
