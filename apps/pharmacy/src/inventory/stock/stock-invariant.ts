import type { SqlExecutor } from '@hospital/platform';

/**
 * The stock lines whose on-hand differs from what the ledger says it must be:
 *   on_hand = initial_on_hand − Σ dispensed + Σ delivered
 * No row back means the invariant holds for every drug at every location. For fault runs and benches.
 */
export const STOCK_INVARIANT_VIOLATIONS_SQL = `
  SELECT s.medication_code, s.location_id, s.on_hand,
         s.initial_on_hand
           - coalesce(sum(m.quantity) FILTER (WHERE m.kind = 'dispense'), 0)
           + coalesce(sum(m.quantity) FILTER (WHERE m.kind = 'delivery'), 0) AS expected
    FROM inventory_stock s
    LEFT JOIN inventory_movement m USING (medication_code, location_id)
   GROUP BY s.medication_code, s.location_id, s.on_hand, s.initial_on_hand
  HAVING s.on_hand <> s.initial_on_hand
           - coalesce(sum(m.quantity) FILTER (WHERE m.kind = 'dispense'), 0)
           + coalesce(sum(m.quantity) FILTER (WHERE m.kind = 'delivery'), 0)`;

export interface StockInvariantViolation {
  medication_code: string;
  location_id: string;
  on_hand: number;
  expected: number;
}

export function stockInvariantViolations(exec: SqlExecutor): Promise<StockInvariantViolation[]> {
  return exec.query<StockInvariantViolation>(STOCK_INVARIANT_VIOLATIONS_SQL);
}
