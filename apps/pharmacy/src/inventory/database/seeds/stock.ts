// The demo stock: every formulary drug at the main pharmacy, a ward selection at ward-3a and the ICU, each
// with its reorder point and quantity. Idempotent: a line is inserted once under its (drug, location) key;
// seeding again only refreshes the reorder settings, never on-hand (the ledger invariant depends on it).
import type { SqlExecutor } from '@hospital/platform';
import { FORMULARY_DRUGS } from '../../../dispensing/database/seeds/formulary';

export interface StockSeedLine {
  medicationCode: string;
  locationId: string;
  onHand: number;
  reorderPoint: number;
  reorderQuantity: number;
}

/** Drugs the wards keep on hand as well. */
const WARD_STOCK = ['197361', '314076', '313782', '198440', '243670', '308182', '1665060', '745679'];

export function stockSeedLines(): StockSeedLine[] {
  const main = FORMULARY_DRUGS.map((drug) => ({
    medicationCode: drug.code,
    locationId: 'main-pharmacy',
    onHand: 20_000,
    reorderPoint: 2_000,
    reorderQuantity: 8_000,
  }));
  const wards = ['ward-3a', 'icu'].flatMap((locationId) =>
    WARD_STOCK.map((medicationCode) => ({
      medicationCode,
      locationId,
      onHand: 400,
      reorderPoint: 100,
      reorderQuantity: 300,
    })),
  );
  return [...main, ...wards];
}

/** Writes the stock lines into the inventory's database (`hospital_pharmacy_inventory`) in one statement. */
export async function seedInventory(
  exec: SqlExecutor,
  lines: readonly StockSeedLine[] = stockSeedLines(),
): Promise<{ lines: number; inserted: number }> {
  const rows = await exec.query<{ inserted: boolean }>(
    `INSERT INTO inventory_stock (medication_code, location_id, initial_on_hand, on_hand, reorder_point, reorder_quantity)
     SELECT code, location, on_hand, on_hand, point, quantity
       FROM unnest($1::text[], $2::text[], $3::int[], $4::int[], $5::int[]) AS l(code, location, on_hand, point, quantity)
     ON CONFLICT (medication_code, location_id) DO UPDATE
       SET reorder_point = EXCLUDED.reorder_point, reorder_quantity = EXCLUDED.reorder_quantity
       WHERE (inventory_stock.reorder_point, inventory_stock.reorder_quantity)
             IS DISTINCT FROM (EXCLUDED.reorder_point, EXCLUDED.reorder_quantity)
     RETURNING (xmax = 0) AS inserted`,
    [
      lines.map((l) => l.medicationCode),
      lines.map((l) => l.locationId),
      lines.map((l) => l.onHand),
      lines.map((l) => l.reorderPoint),
      lines.map((l) => l.reorderQuantity),
    ],
  );
  return { lines: lines.length, inserted: rows.filter((r) => r.inserted).length };
}
