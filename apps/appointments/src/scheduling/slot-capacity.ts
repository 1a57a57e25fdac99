import type { CapacityKind } from '@hospital/transactions';
import type { SlotStatus } from './slot.entity';

/**
 * A consult slot as reservable capacity, `slot:<slotId>`: one consult. Registered with the slot, in the
 * slot's own transaction, so a treatment plan can reserve it by saga or TCC at /api/capacity.
 */
export const SLOT_CAPACITY: CapacityKind = {
  kind: 'slot',
  id: /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/,
  example: 'slot:0b6a5c1e-4f1d-4c7a-9d53-2f0e8c1b7a42',
};

/** The resource id of a slot. */
export function slotResource(slotId: string): string {
  return `${SLOT_CAPACITY.kind}:${slotId}`;
}

/** A free slot offers one consult; a slot created busy (blocked time) offers none. */
export function slotCapacity(status: SlotStatus): number {
  return status === 'free' ? 1 : 0;
}
