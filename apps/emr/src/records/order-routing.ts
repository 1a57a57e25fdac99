import type { ServiceRequest } from '@medplum/fhirtypes';
import { ORDER_CATEGORY } from '@hospital/fhir';

/** The department systems the EMR routes orders to, each a participant of its record updates. */
export const DEPARTMENTS = ['lis', 'pacs'] as const;

/** A department orders are routed to (its service name, as the EMR's peers know it). */
export type OrderDestination = (typeof DEPARTMENTS)[number];

/** Which department receives an order of each SNOMED CT category (value set servicerequest-category). */
const ROUTES: readonly { category: { system: string; code: string }; destination: OrderDestination }[] = [
  { category: ORDER_CATEGORY.laboratory, destination: 'lis' },
  { category: ORDER_CATEGORY.imaging, destination: 'pacs' },
];

/** Where an order goes, from its category; undefined when no category routes it. */
export function orderDestination(order: ServiceRequest): OrderDestination | undefined {
  const codings = (order.category ?? []).flatMap((c) => c.coding ?? []);
  return ROUTES.find(({ category }) =>
    codings.some((c) => c.system === category.system && c.code === category.code),
  )?.destination;
}
