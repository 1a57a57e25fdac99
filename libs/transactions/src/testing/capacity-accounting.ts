import type { SqlExecutor } from '@hospital/platform';

/** A resource whose level breaks the accounting, with the sums of its claims beside it. */
export interface CapacityAccountingViolation {
  resource: string;
  capacity: number;
  available: number;
  taken: number;
  held: number;
  lent: number;
  applied_units: number;
  held_units: number;
}

/**
 * Resources of a participant's database whose level breaks the accounting: capacity ≠ available + taken +
 * held + lent, available below zero, `taken` not the sum of the applied claims' units, or `held` not the
 * sum of the held claims' units. Read straight from `tx_capacity` and `tx_capacity_claim`, independently of
 * the ledger's own code, for specs and fault checks: empty when everything adds up.
 */
export async function capacityAccountingViolations(
  exec: SqlExecutor,
): Promise<CapacityAccountingViolation[]> {
  return exec.query<CapacityAccountingViolation>(`
    SELECT c.resource, c.capacity, c.available, c.taken, c.held, c.lent,
           coalesce(a.units, 0) AS applied_units, coalesce(h.units, 0) AS held_units
      FROM tx_capacity c
      LEFT JOIN (SELECT resource, sum(units)::int AS units FROM tx_capacity_claim
                  WHERE state = 'applied' GROUP BY resource) a USING (resource)
      LEFT JOIN (SELECT resource, sum(units)::int AS units FROM tx_capacity_claim
                  WHERE state = 'held' GROUP BY resource) h USING (resource)
     WHERE c.capacity <> c.available + c.taken + c.held + c.lent
        OR c.available < 0
        OR c.taken <> coalesce(a.units, 0)
        OR c.held <> coalesce(h.units, 0)`);
}
