import { MAX_UNITS } from '../../contracts/pharmacy-events';

/** A drug's stock at one location, as the reorder decision sees it after a movement. */
export interface StockLevel {
  onHand: number;
  reorderPoint: number;
  reorderQuantity: number;
  /** The reorder already open for this drug and location, if any. */
  openReorderId: string | null;
}

export type ReorderDecision =
  { open: false; reason: 'above-reorder-point' | 'reorder-already-open' } | { open: true; quantity: number };

/**
 * Whether a movement opens a reorder: when on-hand has fallen to or below the reorder point and no reorder
 * is open for the drug at that location. The order is the reorder quantity, or more when stock went so far
 * below the point (units dispensed on credit) that the usual quantity would not lift it back above —
 * never more than MAX_UNITS, the most one message may carry.
 */
export function decideReorder(level: StockLevel): ReorderDecision {
  if (level.onHand > level.reorderPoint) return { open: false, reason: 'above-reorder-point' };
  if (level.openReorderId !== null) return { open: false, reason: 'reorder-already-open' };
  const needed = level.reorderPoint - level.onHand + 1;
  return { open: true, quantity: Math.min(MAX_UNITS, Math.max(level.reorderQuantity, needed)) };
}
