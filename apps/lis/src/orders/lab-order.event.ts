import { IsString, Matches } from 'class-validator';

/** The LIS's own exchange for its order events (its outbox publishes there, its analyzer queue reads it). */
export const LAB_ORDERS_EXCHANGE = 'lis.orders';
/** The event of a laboratory order the LIS received from the EMR and must send to the analyzer once. */
export const LAB_ORDER_PLACED = 'lis.lab-order-placed';
/** The queue the analyzer interface consumes: one order message to the analyzer per event. */
export const ANALYZER_ORDERS_QUEUE = 'lis.analyzer-orders';

/**
 * The payload of a placed order: only the order's id. The analyzer interface reads the order and its
 * patient from the LIS's store when it sends, so no patient data travels through the broker.
 */
export class LabOrderPlacedPayload {
  @IsString() @Matches(/^[A-Za-z0-9\-.]{1,64}$/) serviceRequestId!: string;
}
