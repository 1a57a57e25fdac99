import { Injectable } from '@nestjs/common';
import { In } from 'typeorm';
import type { EntityExecutor } from '@hospital/platform';
import type { PurchaseOrder, Reorder } from './purchase-order';
import { SupplyPurchaseOrderEntity } from './supply-purchase-order.entity';
import { SupplyReorderEntity } from './supply-reorder.entity';

/** A reorder as the purchaser holds it: the need, its state and its current two-phase message attempt. */
export interface ReorderRecord extends Reorder {
  state: 'open' | 'ordered';
  generation: number;
  attempts: number;
}

function reorderOf(row: SupplyReorderEntity): ReorderRecord {
  return {
    reorderId: row.reorderId,
    origin: row.origin,
    medicationCode: row.medicationCode,
    locationId: row.locationId,
    quantity: row.quantity,
    state: row.state,
    generation: row.generation,
    attempts: row.attempts,
  };
}

function orderOf(row: SupplyPurchaseOrderEntity): PurchaseOrder {
  const order: PurchaseOrder = {
    purchaseOrderId: row.purchaseOrderId,
    reorderId: row.reorderId,
    gtid: row.gtid,
    medicationCode: row.medicationCode,
    locationId: row.locationId,
    quantity: row.quantity,
    status: row.status,
  };
  if (row.deliveryId !== null) order.deliveryId = row.deliveryId;
  return order;
}

/**
 * `now()` plus the query parameter `name`, in milliseconds: leases and retry times are kept by the
 * database's clock, the one every replica's sweep compares them with.
 */
const afterMs = (name: string) => (): string =>
  `now() + CAST(:${name} AS integer) * interval '1 millisecond'`;

/** No purchaser holds the reorder (or its lease ran out). Column names, so update builders use it too. */
const UNLEASED = '(lease_until IS NULL OR lease_until <= now())';

/**
 * `supply_reorder` and `supply_purchase_order` through their TypeORM entities. Every method runs on the
 * executor it is given: a session (the inbox's transaction, a two-phase message's local transaction) or
 * the Database for a single statement outside any transaction.
 */
@Injectable()
export class PurchasingRepository {
  /**
   * Records an open reorder unless its id is taken; true when this call recorded it. `leaseMs` (manual
   * orders) holds it for the caller, so the sweep does not place it at the same time.
   */
  async insertReorder(exec: EntityExecutor, reorder: Reorder, leaseMs?: number): Promise<boolean> {
    const inserted = await exec
      .repository(SupplyReorderEntity)
      .createQueryBuilder()
      .insert()
      .values({
        reorderId: reorder.reorderId,
        origin: reorder.origin,
        medicationCode: reorder.medicationCode,
        locationId: reorder.locationId,
        quantity: reorder.quantity,
        state: 'open',
        attempts: leaseMs === undefined ? 0 : 1,
        leaseUntil: leaseMs === undefined ? null : afterMs('leaseMs'),
      })
      .setParameters(leaseMs === undefined ? {} : { leaseMs })
      // ON CONFLICT DO NOTHING (the primary key is the only unique column): the caller reads the
      // recorded one. RETURNING tells whether this statement inserted.
      .orIgnore()
      .returning(['reorderId'])
      .updateEntity(false)
      .execute();
    return (inserted.raw as unknown[]).length > 0;
  }

  /** With `lock`, inside a transaction: SELECT … FOR UPDATE. */
  async findReorder(
    exec: EntityExecutor,
    reorderId: string,
    lock = false,
  ): Promise<ReorderRecord | undefined> {
    const row = await exec.repository(SupplyReorderEntity).findOne({
      where: { reorderId },
      lock: lock ? { mode: 'pessimistic_write' } : undefined,
    });
    return row === null ? undefined : reorderOf(row);
  }

  /**
   * Inside a transaction: claims up to `limit` open reorders no purchaser holds, for `leaseMs`. FOR UPDATE
   * SKIP LOCKED keeps replicas from claiming the same row at once (the rows stay locked until the
   * transaction commits), the lease keeps them off it afterwards while its message is sent.
   */
  async claimOpen(tx: EntityExecutor, limit: number, leaseMs: number): Promise<ReorderRecord[]> {
    const reorders = tx.repository(SupplyReorderEntity);
    const due = await reorders
      .createQueryBuilder('r')
      .where(`r.state = 'open'`)
      .andWhere(UNLEASED)
      .orderBy('r.createdAt')
      .limit(limit)
      .setLock('pessimistic_write')
      .setOnLocked('skip_locked')
      .getMany();
    if (due.length === 0) return [];
    await reorders
      .createQueryBuilder()
      .update()
      .set({ leaseUntil: afterMs('leaseMs'), attempts: () => 'attempts + 1' })
      .where({ reorderId: In(due.map((row) => row.reorderId)) })
      .setParameters({ leaseMs })
      .execute();
    // The rows are locked by this transaction since they were read: the increment is exactly this one.
    return due.map((row) => reorderOf({ ...row, attempts: row.attempts + 1 }));
  }

  /** Takes the lease of one open reorder (a manual order retried by its purchaser); undefined when held. */
  async claimOne(
    exec: EntityExecutor,
    reorderId: string,
    leaseMs: number,
  ): Promise<ReorderRecord | undefined> {
    const taken = await exec
      .repository(SupplyReorderEntity)
      .createQueryBuilder()
      .update()
      .set({ leaseUntil: afterMs('leaseMs'), attempts: () => 'attempts + 1' })
      .where({ reorderId, state: 'open' })
      .andWhere(UNLEASED)
      .setParameters({ leaseMs })
      .execute();
    // Read back under the lease just taken: only its holder changes the row until it runs out.
    return taken.affected === 1 ? this.findReorder(exec, reorderId) : undefined;
  }

  /** Inside the purchase order's local transaction: the reorder is ordered (lease and error cleared). */
  async markOrdered(exec: EntityExecutor, reorderId: string): Promise<void> {
    await exec
      .repository(SupplyReorderEntity)
      .update(
        { reorderId },
        { state: 'ordered', orderedAt: () => 'now()', leaseUntil: null, lastError: null },
      );
  }

  /**
   * A placing attempt failed: the reorder is retried after `retryAfterMs`. With `nextGeneration` (the
   * message server settled this attempt's gtid as aborted), the next attempt uses the next gtid — only if
   * no other purchaser moved it on meanwhile.
   */
  async release(
    exec: EntityExecutor,
    reorder: Pick<ReorderRecord, 'reorderId' | 'generation'>,
    error: string,
    retryAfterMs: number,
    nextGeneration: boolean,
  ): Promise<void> {
    await exec
      .repository(SupplyReorderEntity)
      .createQueryBuilder()
      .update()
      .set({
        leaseUntil: afterMs('retryAfterMs'),
        lastError: error.slice(0, 500),
        ...(nextGeneration ? { generation: () => 'generation + 1' } : {}),
      })
      .where({ reorderId: reorder.reorderId, generation: reorder.generation, state: 'open' })
      .setParameters({ retryAfterMs })
      .execute();
  }

  async insertPurchaseOrder(exec: EntityExecutor, order: PurchaseOrder): Promise<void> {
    await exec.repository(SupplyPurchaseOrderEntity).insert({
      purchaseOrderId: order.purchaseOrderId,
      reorderId: order.reorderId,
      gtid: order.gtid,
      medicationCode: order.medicationCode,
      locationId: order.locationId,
      quantity: order.quantity,
      status: 'placed',
    });
  }

  /** With `lock`, inside a transaction: SELECT … FOR UPDATE. */
  async findPurchaseOrder(
    exec: EntityExecutor,
    purchaseOrderId: string,
    lock = false,
  ): Promise<PurchaseOrder | undefined> {
    const row = await exec.repository(SupplyPurchaseOrderEntity).findOne({
      where: { purchaseOrderId },
      lock: lock ? { mode: 'pessimistic_write' } : undefined,
    });
    return row === null ? undefined : orderOf(row);
  }

  async findPurchaseOrderOfReorder(
    exec: EntityExecutor,
    reorderId: string,
  ): Promise<PurchaseOrder | undefined> {
    const row = await exec.repository(SupplyPurchaseOrderEntity).findOneBy({ reorderId });
    return row === null ? undefined : orderOf(row);
  }

  async completePurchaseOrder(
    exec: EntityExecutor,
    purchaseOrderId: string,
    deliveryId: string,
  ): Promise<void> {
    await exec
      .repository(SupplyPurchaseOrderEntity)
      .update(
        { purchaseOrderId, status: 'placed' },
        { status: 'completed', deliveryId, completedAt: () => 'now()' },
      );
  }
}
