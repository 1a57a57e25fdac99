import type { CapacityKind } from '@hospital/transactions';

/** A day, `YYYY-MM-DD`. */
const DAY = '\\d{4}-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12]\\d|3[01])';

/**
 * Imaging capacity: examinations a modality can take on one day, `imaging:<modality>:<YYYY-MM-DD>` with the
 * DICOM modality code (CT, MR, US, XA…). A treatment plan reserves one or more of them; each day of each
 * modality is registered (and its capacity set) with `PUT /api/capacity/resources/:resource`.
 */
export const IMAGING_CAPACITY: CapacityKind = {
  kind: 'imaging',
  id: new RegExp(`^[A-Z]{2}:${DAY}$`),
  example: 'imaging:CT:2026-12-07',
};

/** The resource id of a modality's day. */
export function imagingResource(modality: string, day: string): string {
  return `${IMAGING_CAPACITY.kind}:${modality}:${day}`;
}
