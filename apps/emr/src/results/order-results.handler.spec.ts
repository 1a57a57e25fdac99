import { orderStatusAfter } from './order-results.handler';

describe('orderStatusAfter', () => {
  it('moves an order forward as its results arrive', () => {
    expect(orderStatusAfter('active', 'completed')).toBe('completed');
    expect(orderStatusAfter('draft', 'active')).toBe('active');
    expect(orderStatusAfter('on-hold', 'completed')).toBe('completed');
  });

  it('never moves an order back, nor out of revoked or entered-in-error', () => {
    expect(orderStatusAfter('completed', 'active')).toBe('completed');
    expect(orderStatusAfter('active', 'active')).toBe('active');
    expect(orderStatusAfter('revoked', 'completed')).toBe('revoked');
    expect(orderStatusAfter('entered-in-error', 'completed')).toBe('entered-in-error');
  });
});
