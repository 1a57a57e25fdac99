import { Column, Entity, PrimaryColumn } from 'typeorm';

/**
 * A row of `supplier_purchase_order` (migration SupplierTables1763800002000): the supplier's book, one row
 * per purchase order id. `shipDueAt` is the durable shipping timer; `shippedAt` and `deliveryId` are set
 * together when the order ships.
 */
@Entity('supplier_purchase_order')
export class SupplierPurchaseOrderEntity {
  @PrimaryColumn({ name: 'purchase_order_id', type: 'text' })
  purchaseOrderId!: string;

  @Column({ name: 'reorder_id', type: 'text' })
  reorderId!: string;

  @Column({ name: 'medication_code', type: 'text' })
  medicationCode!: string;

  @Column({ name: 'location_id', type: 'text' })
  locationId!: string;

  @Column({ type: 'integer' })
  quantity!: number;

  @Column({ type: 'text' })
  gtid!: string;

  @Column({ name: 'message_id', type: 'text' })
  messageId!: string;

  @Column({ name: 'received_at', type: 'timestamptz', default: () => 'now()' })
  receivedAt!: Date;

  /** Arrivals of the same order under another message id: "no purchase order sent twice" is checkable. */
  @Column({ name: 'duplicate_receipts', type: 'integer', default: 0 })
  duplicateReceipts!: number;

  @Column({ name: 'ship_due_at', type: 'timestamptz' })
  shipDueAt!: Date;

  @Column({ name: 'delivery_id', type: 'text', nullable: true, unique: true })
  deliveryId!: string | null;

  @Column({ name: 'shipped_at', type: 'timestamptz', nullable: true })
  shippedAt!: Date | null;
}
