/**
 * The messages the pharmacy's parts exchange over RabbitMQ. Dispensing, inventory, supply-chain and the
 * supplier never call each other: each publishes these through its outbox (or, for purchase orders, as a
 * two-phase message) and consumes them through its inbox. Payloads are validated on arrival with the
 * classes below; a payload that fails is dead-lettered with the reason and changes nothing.
 */
import { IsInt, IsISO8601, IsString, Matches, Max, MaxLength, Min } from 'class-validator';

/** Topic exchange every pharmacy event goes to. */
export const PHARMACY_EXCHANGE = 'pharmacy.events';

/** Largest quantity one dispense, reorder or delivery may carry, in dose units. */
export const MAX_UNITS = 10_000;

/** Event types, each with its routing key on `PHARMACY_EXCHANGE`. */
export const PharmacyEvent = {
  MedicationDispensed: {
    type: 'pharmacy.medication-dispensed',
    routingKey: 'dispensing.medication-dispensed',
  },
  StockLow: { type: 'pharmacy.stock-low', routingKey: 'inventory.stock-low' },
  PurchaseOrderPlaced: {
    type: 'pharmacy.purchase-order-placed',
    routingKey: 'supply-chain.purchase-order-placed',
  },
  DeliveryShipped: { type: 'pharmacy.delivery-shipped', routingKey: 'supplier.delivery-shipped' },
  StockDelivered: { type: 'pharmacy.stock-delivered', routingKey: 'supply-chain.stock-delivered' },
} as const;

/** Formulary codes: the demo formulary uses RxNorm codes (digits). */
const CODE = /^[A-Za-z0-9.-]{1,64}$/;
/** Stock locations: ward or store ids such as `main-pharmacy`, `ward-3a`. */
const LOCATION = /^[a-z0-9-]{1,64}$/;

/** Ordering key of every stock-related event: one drug at one location. */
export function stockAggregate(medicationCode: string, locationId: string): string {
  return `${medicationCode}@${locationId}`;
}

abstract class StockLine {
  @IsString() @Matches(CODE) medicationCode!: string;
  @IsString() @Matches(LOCATION) locationId!: string;
  @IsInt() @Min(1) @Max(MAX_UNITS) quantity!: number;
}

/** dispensing → inventory: units left the shelf. */
export class MedicationDispensedPayload extends StockLine {
  @IsString() @MaxLength(64) dispenseId!: string;
  @IsISO8601() dispensedAt!: string;
}

/** inventory → supply-chain: stock fell to or below the reorder point; `reorderId` names this reorder. */
export class StockLowPayload {
  @IsString() @MaxLength(64) reorderId!: string;
  @IsString() @Matches(CODE) medicationCode!: string;
  @IsString() @Matches(LOCATION) locationId!: string;
  @IsInt() onHand!: number;
  @IsInt() @Min(0) reorderPoint!: number;
  @IsInt() @Min(1) @Max(MAX_UNITS) reorderQuantity!: number;
}

/** supply-chain → supplier (two-phase message): a purchase order. */
export class PurchaseOrderPlacedPayload extends StockLine {
  @IsString() @MaxLength(64) purchaseOrderId!: string;
  @IsString() @MaxLength(64) reorderId!: string;
}

/** supplier → supply-chain: the order was shipped. */
export class DeliveryShippedPayload extends StockLine {
  @IsString() @MaxLength(64) deliveryId!: string;
  @IsString() @MaxLength(64) purchaseOrderId!: string;
}

/** supply-chain → inventory: a delivery was received into stock. */
export class StockDeliveredPayload extends StockLine {
  @IsString() @MaxLength(64) deliveryId!: string;
  @IsString() @MaxLength(64) purchaseOrderId!: string;
  @IsString() @MaxLength(64) reorderId!: string;
}
