import { Inject, Injectable } from '@nestjs/common';
import { Database, hotStatement, type SqlExecutor } from '@hospital/platform';
import { stockAggregate } from '../../contracts/pharmacy-events';
import type { StockLevel } from './reorder-policy';

/** A stock movement applied from a message: units out (dispense) or in (delivery). */
export interface Movement {
  kind: 'dispense' | 'delivery';
  /** The message id: the ledger row's key, so a movement is recorded at most once. */
  messageId: string;
  medicationCode: string;
  locationId: string;
  quantity: number;
  /** The dispense id or delivery id. */
  referenceId: string;
  /** For a delivery: the reorder it closes, if still open. */
  closesReorderId?: string;
}

export interface AppliedMovement extends StockLevel {
  /** For a delivery: whether it closed the open reorder it named. */
  closedReorder: boolean;
}

export interface NewReorder {
  reorderId: string;
  medicationCode: string;
  locationId: string;
  quantity: number;
  onHand: number;
  messageId: string;
}

export interface StockLine {
  medicationCode: string;
  locationId: string;
  onHand: number;
  reorderPoint: number;
  reorderQuantity: number;
  openReorder: { reorderId: string; quantity: number; openedAt: string } | null;
  updatedAt: string;
}

export interface StockFilter {
  medicationCode?: string;
  locationId?: string;
  limit: number;
  offset: number;
}

interface StockRow {
  medication_code: string;
  location_id: string;
  on_hand: number;
  reorder_point: number;
  reorder_quantity: number;
  reorder_id: string | null;
  reorder_quantity_ordered: number | null;
  opened_at: Date | null;
  updated_at: Date;
}

/**
 * One statement per movement: the stock row changes, the ledger gets its row, and (for a delivery) the
 * reorder it answers is closed. No row back means the drug is not stocked at that location.
 */
const APPLY_MOVEMENT = hotStatement(`
  WITH s AS (
    UPDATE inventory_stock
       SET on_hand = on_hand + $3,
           open_reorder_id = CASE WHEN open_reorder_id = $7::text THEN NULL ELSE open_reorder_id END,
           updated_at = now()
     WHERE medication_code = $1 AND location_id = $2
    RETURNING on_hand, reorder_point, reorder_quantity, open_reorder_id
  ), r AS (
    UPDATE inventory_reorder
       SET status = 'closed', closed_at = now(), delivery_id = $6, delivered_quantity = abs($3)
     WHERE reorder_id = $7::text AND status = 'open' AND medication_code = $1 AND location_id = $2
       AND EXISTS (SELECT 1 FROM s)
    RETURNING reorder_id
  ), m AS (
    INSERT INTO inventory_movement (message_id, kind, medication_code, location_id, quantity, reference_id, on_hand_after)
    SELECT $4, $5, $1, $2, abs($3), $6, on_hand FROM s
  )
  SELECT on_hand, reorder_point, reorder_quantity, open_reorder_id, EXISTS (SELECT 1 FROM r) AS closed FROM s`);

/**
 * Several dispenses in one statement: each stock line moves once by their sum; each dispense gets its
 * ledger row with the on-hand right after it (in the order given). Lines not stocked return no row.
 */
const APPLY_DISPENSES = hotStatement(`
  WITH m AS (
    SELECT * FROM unnest($1::text[], $2::text[], $3::int[], $4::text[], $5::text[]) WITH ORDINALITY
      AS m(medication_code, location_id, quantity, message_id, reference_id, ord)
  ), total AS (
    SELECT medication_code, location_id, sum(quantity) AS quantity FROM m GROUP BY medication_code, location_id
  ), s AS (
    UPDATE inventory_stock st
       SET on_hand = st.on_hand - total.quantity, updated_at = now()
      FROM total
     WHERE st.medication_code = total.medication_code AND st.location_id = total.location_id
    RETURNING st.medication_code, st.location_id, st.on_hand, st.reorder_point, st.reorder_quantity,
              st.open_reorder_id
  ), ledger AS (
    INSERT INTO inventory_movement (message_id, kind, medication_code, location_id, quantity, reference_id, on_hand_after)
    SELECT m.message_id, 'dispense', m.medication_code, m.location_id, m.quantity, m.reference_id,
           s.on_hand + coalesce(sum(m.quantity) OVER (PARTITION BY m.medication_code, m.location_id ORDER BY m.ord
                                                      ROWS BETWEEN 1 FOLLOWING AND UNBOUNDED FOLLOWING), 0)
      FROM m JOIN s USING (medication_code, location_id)
  )
  SELECT medication_code, location_id, on_hand, reorder_point, reorder_quantity, open_reorder_id FROM s`);

const OPEN_REORDER = `
  WITH r AS (
    INSERT INTO inventory_reorder (reorder_id, medication_code, location_id, quantity, on_hand_at_open, opened_by_message)
    VALUES ($1, $2, $3, $4, $5, $6)
    RETURNING reorder_id
  )
  UPDATE inventory_stock SET open_reorder_id = (SELECT reorder_id FROM r)
   WHERE medication_code = $2 AND location_id = $3`;

const SELECT_LINES = `
  SELECT s.medication_code, s.location_id, s.on_hand, s.reorder_point, s.reorder_quantity, s.updated_at,
         r.reorder_id, r.quantity AS reorder_quantity_ordered, r.opened_at
    FROM inventory_stock s
    LEFT JOIN inventory_reorder r ON r.reorder_id = s.open_reorder_id
   WHERE ($1::text IS NULL OR s.medication_code = $1) AND ($2::text IS NULL OR s.location_id = $2)
   ORDER BY s.medication_code, s.location_id
   LIMIT $3 OFFSET $4`;

function toLine(row: StockRow): StockLine {
  return {
    medicationCode: row.medication_code,
    locationId: row.location_id,
    onHand: row.on_hand,
    reorderPoint: row.reorder_point,
    reorderQuantity: row.reorder_quantity,
    openReorder:
      row.reorder_id === null || row.opened_at === null
        ? null
        : {
            reorderId: row.reorder_id,
            quantity: row.reorder_quantity_ordered ?? 0,
            openedAt: row.opened_at.toISOString(),
          },
    updatedAt: row.updated_at.toISOString(),
  };
}

/**
 * The inventory's tables (`inventory_stock`, `inventory_reorder`, `inventory_movement`), in raw SQL on
 * purpose — the exception to "TypeORM entities for relational tables" (docs/adding-a-service.md):
 * - the movements are the hot path of `npm run bench -- outbox`: one named, prepared statement per
 *   movement (`APPLY_MOVEMENT`) or per batch of dispenses (`APPLY_DISPENSES`), each a data-modifying CTE
 *   that moves the stock, writes the ledger and closes a reorder in one round trip; an entity repository
 *   would take a read and two or three writes per movement and lose the prepared plan;
 * - opening a reorder (`OPEN_REORDER`) runs inside the same handler transactions and is one
 *   data-modifying CTE too, which TypeORM's builders cannot express;
 * - the listing reads the same rows with one LEFT JOIN; an entity used only there would split the
 *   table's mapping in two and give the bench's busiest process a TypeORM DataSource of its own.
 */
@Injectable()
export class StockRepository {
  constructor(@Inject(Database) private readonly db: Database) {}

  /** Applies a movement; undefined when the drug is not stocked at the location (nothing written). */
  async applyMovement(exec: SqlExecutor, movement: Movement): Promise<AppliedMovement | undefined> {
    const delta = movement.kind === 'dispense' ? -movement.quantity : movement.quantity;
    const [row] = await exec.query<{
      on_hand: number;
      reorder_point: number;
      reorder_quantity: number;
      open_reorder_id: string | null;
      closed: boolean;
    }>(APPLY_MOVEMENT, [
      movement.medicationCode,
      movement.locationId,
      delta,
      movement.messageId,
      movement.kind,
      movement.referenceId,
      movement.closesReorderId ?? null,
    ]);
    if (row === undefined) return undefined;
    return {
      onHand: row.on_hand,
      reorderPoint: row.reorder_point,
      reorderQuantity: row.reorder_quantity,
      openReorderId: row.open_reorder_id,
      closedReorder: row.closed,
    };
  }

  /** Applies dispenses in one statement; the level of each stock line after them, by `stockAggregate`. */
  async applyDispenses(
    exec: SqlExecutor,
    movements: readonly Movement[],
  ): Promise<Map<string, AppliedMovement>> {
    const rows = await exec.query<{
      medication_code: string;
      location_id: string;
      on_hand: number;
      reorder_point: number;
      reorder_quantity: number;
      open_reorder_id: string | null;
    }>(APPLY_DISPENSES, [
      movements.map((m) => m.medicationCode),
      movements.map((m) => m.locationId),
      movements.map((m) => m.quantity),
      movements.map((m) => m.messageId),
      movements.map((m) => m.referenceId),
    ]);
    return new Map(
      rows.map((row) => [
        stockAggregate(row.medication_code, row.location_id),
        {
          onHand: row.on_hand,
          reorderPoint: row.reorder_point,
          reorderQuantity: row.reorder_quantity,
          openReorderId: row.open_reorder_id,
          closedReorder: false,
        },
      ]),
    );
  }

  /** Opens a reorder and marks it as the drug's open one at the location. */
  async openReorder(exec: SqlExecutor, reorder: NewReorder): Promise<void> {
    await exec.query(OPEN_REORDER, [
      reorder.reorderId,
      reorder.medicationCode,
      reorder.locationId,
      reorder.quantity,
      reorder.onHand,
      reorder.messageId,
    ]);
  }

  async list(filter: StockFilter): Promise<StockLine[]> {
    const rows = await this.db.query<StockRow>(SELECT_LINES, [
      filter.medicationCode ?? null,
      filter.locationId ?? null,
      filter.limit,
      filter.offset,
    ]);
    return rows.map(toLine);
  }
}
