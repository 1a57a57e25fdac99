import fc from 'fast-check';
import { MAX_UNITS } from '../../contracts/pharmacy-events';
import { decideReorder, type StockLevel } from './reorder-policy';

const level = (overrides: Partial<StockLevel>): StockLevel => ({
  onHand: 500,
  reorderPoint: 100,
  reorderQuantity: 300,
  openReorderId: null,
  ...overrides,
});

describe('decideReorder', () => {
  it('opens nothing while on-hand is above the reorder point', () => {
    expect(decideReorder(level({ onHand: 101 }))).toEqual({ open: false, reason: 'above-reorder-point' });
  });

  it('opens a reorder of the reorder quantity when on-hand falls to the point', () => {
    expect(decideReorder(level({ onHand: 100 }))).toEqual({ open: true, quantity: 300 });
    expect(decideReorder(level({ onHand: 0 }))).toEqual({ open: true, quantity: 300 });
  });

  it('opens none while one is open for the drug and location', () => {
    expect(decideReorder(level({ onHand: 50, openReorderId: 'r-1' }))).toEqual({
      open: false,
      reason: 'reorder-already-open',
    });
  });

  it('orders enough to lift negative stock back above the point, never more than MAX_UNITS', () => {
    expect(decideReorder(level({ onHand: -500 }))).toEqual({ open: true, quantity: 601 });
    expect(decideReorder(level({ onHand: -50_000 }))).toEqual({ open: true, quantity: MAX_UNITS });
  });

  it('opens exactly when at or below the point with none open, with a quantity a StockLow may carry', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: -100_000, max: 100_000 }),
        fc.integer({ min: 0, max: 50_000 }),
        fc.integer({ min: 1, max: MAX_UNITS }),
        fc.option(fc.uuid(), { nil: null }),
        (onHand, reorderPoint, reorderQuantity, openReorderId) => {
          const decision = decideReorder({ onHand, reorderPoint, reorderQuantity, openReorderId });
          expect(decision.open).toBe(onHand <= reorderPoint && openReorderId === null);
          if (decision.open) {
            expect(decision.quantity).toBeGreaterThanOrEqual(Math.min(reorderQuantity, MAX_UNITS));
            expect(decision.quantity).toBeLessThanOrEqual(MAX_UNITS);
            expect(Number.isInteger(decision.quantity)).toBe(true);
          }
        },
      ),
    );
  });
});
