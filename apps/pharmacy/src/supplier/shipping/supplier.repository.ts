import { Injectable } from '@nestjs/common';
import { IsNull } from 'typeorm';
import type { EntityExecutor } from '@hospital/platform';
import type { SupplierOrder } from './shipment';
import { SupplierPurchaseOrderEntity } from './supplier-purchase-order.entity';

/** A booked order that is due to ship, with the gtid its purchase order came with. */
export interface DueOrder extends SupplierOrder {
  gtid: string;
}

function orderOf(row: SupplierPurchaseOrderEntity): DueOrder {
  return {
    purchaseOrderId: row.purchaseOrderId,
    reorderId: row.reorderId,
    medicationCode: row.medicationCode,
    locationId: row.locationId,
    quantity: row.quantity,
    gtid: row.gtid,
  };
}

/**
 * `supplier_purchase_order` through its TypeORM entity. Every method runs on the executor it is given:
 * the inbox's or the shipping sweep's session, so the book and the outbox commit together.
 */
@Injectable()
export class SupplierRepository {
  /** Books an order, due to ship `delayMs` from now; returns its due time, or undefined when already booked. */
  async book(
    exec: EntityExecutor,
    order: SupplierOrder,
    receipt: { gtid: string; messageId: string },
    delayMs: number,
  ): Promise<Date | undefined> {
    const inserted = await exec
      .repository(SupplierPurchaseOrderEntity)
      .createQueryBuilder()
      .insert()
      .values({
        purchaseOrderId: order.purchaseOrderId,
        reorderId: order.reorderId,
        medicationCode: order.medicationCode,
        locationId: order.locationId,
        quantity: order.quantity,
        gtid: receipt.gtid,
        messageId: receipt.messageId,
        // The database's clock, as the sweep that compares it with now().
        shipDueAt: () => `now() + CAST(:delayMs AS integer) * interval '1 millisecond'`,
      })
      .setParameter('delayMs', delayMs)
      // ON CONFLICT DO NOTHING (the primary key is the only unique column set here): a repeat is
      // counted by the caller, not booked.
      .orIgnore()
      .returning(['shipDueAt']) // property names; the raw rows are keyed by column name
      .updateEntity(false)
      .execute();
    const rows = inserted.raw as { ship_due_at: Date }[];
    return rows[0]?.ship_due_at;
  }

  async find(exec: EntityExecutor, purchaseOrderId: string): Promise<DueOrder | undefined> {
    const row = await exec.repository(SupplierPurchaseOrderEntity).findOneBy({ purchaseOrderId });
    return row === null ? undefined : orderOf(row);
  }

  /** The order arrived again under another message id: counted, so a checker sees it was sent twice. */
  async countRepeat(exec: EntityExecutor, purchaseOrderId: string): Promise<void> {
    await exec
      .repository(SupplierPurchaseOrderEntity)
      .update({ purchaseOrderId }, { duplicateReceipts: () => 'duplicate_receipts + 1' });
  }

  /**
   * Inside the shipping transaction: locks up to `limit` unshipped orders whose time has come, skipping
   * rows another replica's sweep holds (FOR UPDATE SKIP LOCKED).
   */
  async claimDue(exec: EntityExecutor, limit: number): Promise<DueOrder[]> {
    const rows = await exec
      .repository(SupplierPurchaseOrderEntity)
      .createQueryBuilder('o')
      .where('o.shippedAt IS NULL')
      .andWhere('o.shipDueAt <= now()')
      .orderBy('o.shipDueAt')
      .limit(limit)
      .setLock('pessimistic_write')
      .setOnLocked('skip_locked')
      .getMany();
    return rows.map(orderOf);
  }

  async markShipped(exec: EntityExecutor, purchaseOrderId: string, deliveryId: string): Promise<void> {
    await exec
      .repository(SupplierPurchaseOrderEntity)
      .update({ purchaseOrderId, shippedAt: IsNull() }, { shippedAt: () => 'now()', deliveryId });
  }
}
