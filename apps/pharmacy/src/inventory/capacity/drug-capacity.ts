import type { CapacityKind } from '@hospital/transactions';
import { LOCATION_ID, MEDICATION_CODE } from '../stock/dto/stock-query.dto';

/** The pattern's body, without its anchors. */
const inner = (pattern: RegExp): string => pattern.source.replace(/^\^/, '').replace(/\$$/, '');

/**
 * A drug's stock at one location as reservable capacity, `drug:<medicationCode>@<location>`: the units a
 * treatment plan's regimen may reserve there, registered (and set) with `PUT /api/capacity/resources/…`.
 * Kept apart from on-hand, which only dispenses and deliveries move.
 */
export const DRUG_CAPACITY: CapacityKind = {
  kind: 'drug',
  id: new RegExp(`^${inner(MEDICATION_CODE)}@${inner(LOCATION_ID)}$`),
  example: 'drug:197361@ward-3a',
};
