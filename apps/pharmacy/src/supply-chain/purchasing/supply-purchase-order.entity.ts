import { Column, Entity, PrimaryColumn } from 'typeorm';
import type { PurchaseOrderStatus } from './purchase-order';

/**
 * A row of `supply_purchase_order` (migration SupplyChainTables1763800001000): the one purchase order of
 * a reorder (`reorder_id` is unique and references `supply_reorder`; no relation is mapped, the
 * repository reads each table by key). `deliveryId` is set exactly when the order is completed.
 */
@Entity('supply_purchase_order')
export class SupplyPurchaseOrderEntity {
  @PrimaryColumn({ name: 'purchase_order_id', type: 'text' })
  purchaseOrderId!: string;

  @Column({ name: 'reorder_id', type: 'text', unique: true })
  reorderId!: string;

  @Column({ type: 'text', unique: true })
  gtid!: string;

  @Column({ name: 'medication_code', type: 'text' })
  medicationCode!: string;

  @Column({ name: 'location_id', type: 'text' })
  locationId!: string;

  @Column({ type: 'integer' })
  quantity!: number;

  @Column({ type: 'text' })
  status!: PurchaseOrderStatus;

  @Column({ name: 'placed_at', type: 'timestamptz', default: () => 'now()' })
  placedAt!: Date;

  @Column({ name: 'delivery_id', type: 'text', nullable: true, unique: true })
  deliveryId!: string | null;

  @Column({ name: 'completed_at', type: 'timestamptz', nullable: true })
  completedAt!: Date | null;
}
