import { Column, Entity, PrimaryColumn } from 'typeorm';
import type { ReorderOrigin } from './purchase-order';

/**
 * A row of `supply_reorder` (migration SupplyChainTables1763800001000): a need for stock the supply chain
 * was asked for. `generation` names the current two-phase message attempt (the gtid derives from the
 * reorder id and it); `leaseUntil` is a purchaser's claim on it.
 */
@Entity('supply_reorder')
export class SupplyReorderEntity {
  @PrimaryColumn({ name: 'reorder_id', type: 'text' })
  reorderId!: string;

  @Column({ type: 'text' })
  origin!: ReorderOrigin;

  @Column({ name: 'medication_code', type: 'text' })
  medicationCode!: string;

  @Column({ name: 'location_id', type: 'text' })
  locationId!: string;

  @Column({ type: 'integer' })
  quantity!: number;

  @Column({ type: 'text' })
  state!: 'open' | 'ordered';

  @Column({ type: 'integer', default: 0 })
  generation!: number;

  @Column({ type: 'integer', default: 0 })
  attempts!: number;

  @Column({ name: 'lease_until', type: 'timestamptz', nullable: true })
  leaseUntil!: Date | null;

  @Column({ name: 'last_error', type: 'text', nullable: true })
  lastError!: string | null;

  @Column({ name: 'created_at', type: 'timestamptz', default: () => 'now()' })
  createdAt!: Date;

  @Column({ name: 'ordered_at', type: 'timestamptz', nullable: true })
  orderedAt!: Date | null;
}
