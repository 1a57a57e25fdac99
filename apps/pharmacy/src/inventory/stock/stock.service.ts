import { randomUUID } from 'node:crypto';
import { Inject, Injectable } from '@nestjs/common';
import type { Session } from '@hospital/platform';
import { Outbox } from '@hospital/transactions';
import {
  PHARMACY_EXCHANGE,
  PharmacyEvent,
  stockAggregate,
  type MedicationDispensedPayload,
  type StockDeliveredPayload,
  type StockLowPayload,
} from '../../contracts/pharmacy-events';
import { decideReorder } from './reorder-policy';
import {
  type AppliedMovement,
  type Movement,
  type StockFilter,
  type StockLine,
  StockRepository,
} from './stock.repository';
import { InventoryErrorCode, InventoryException } from './stock.exception';

/** What a message carries besides its payload: its id (the ledger key) and its global transaction. */
export interface MessageOrigin {
  messageId: string;
  gtid: string;
}

export interface MovementResult extends AppliedMovement {
  /** The reorder this movement opened, if it opened one. */
  openedReorderId?: string;
}

/** The stock movement a dispense makes: its units leave the line, the ledger names the dispense. */
function dispenseMovement(dispense: MedicationDispensedPayload, origin: MessageOrigin): Movement {
  return {
    kind: 'dispense',
    messageId: origin.messageId,
    medicationCode: dispense.medicationCode,
    locationId: dispense.locationId,
    quantity: dispense.quantity,
    referenceId: dispense.dispenseId,
  };
}

function unknownStock(medicationCode: string, locationId: string): InventoryException {
  return new InventoryException(
    InventoryErrorCode.StockNotFound,
    `medication ${medicationCode} is not stocked at ${locationId}`,
  );
}

/**
 * Stock per drug and location. Dispenses take units out (stock may go negative: the units already left
 * the shelf, so a dispense is recorded, never refused), deliveries put them back and close their reorder;
 * either opens a reorder, with a `StockLow` event in the outbox, when on-hand is at or below the reorder
 * point and none is open. Every movement runs in the caller's transaction (the inbox's), ledger row included.
 */
@Injectable()
export class StockService {
  constructor(
    @Inject(StockRepository) private readonly stock: StockRepository,
    @Inject(Outbox) private readonly outbox: Outbox,
  ) {}

  async applyDispense(
    session: Session,
    dispense: MedicationDispensedPayload,
    origin: MessageOrigin,
  ): Promise<MovementResult> {
    const applied = await this.stock.applyMovement(session, dispenseMovement(dispense, origin));
    if (applied === undefined) throw unknownStock(dispense.medicationCode, dispense.locationId);
    return this.reorderIfLow(session, dispense.medicationCode, dispense.locationId, applied, origin);
  }

  /**
   * Several dispenses in one statement: each stock line moves by their sum, each gets its ledger row, and a
   * line that ends at or below its reorder point opens a reorder (as the last of its dispenses would have).
   */
  async applyDispenses(
    session: Session,
    dispenses: readonly { dispense: MedicationDispensedPayload; origin: MessageOrigin }[],
  ): Promise<void> {
    const lines = await this.stock.applyDispenses(
      session,
      dispenses.map(({ dispense, origin }) => dispenseMovement(dispense, origin)),
    );
    // The last dispense of each stock line: its level after them all, and the origin a reorder names.
    const last = new Map<string, { dispense: MedicationDispensedPayload; origin: MessageOrigin }>();
    for (const entry of dispenses) {
      const { medicationCode, locationId } = entry.dispense;
      const line = stockAggregate(medicationCode, locationId);
      if (!lines.has(line)) throw unknownStock(medicationCode, locationId);
      last.set(line, entry);
    }
    for (const [line, { dispense, origin }] of last) {
      const applied = lines.get(line) as AppliedMovement;
      await this.reorderIfLow(session, dispense.medicationCode, dispense.locationId, applied, origin);
    }
  }

  async applyDelivery(
    session: Session,
    delivery: StockDeliveredPayload,
    origin: MessageOrigin,
  ): Promise<MovementResult> {
    const applied = await this.stock.applyMovement(session, {
      kind: 'delivery',
      messageId: origin.messageId,
      medicationCode: delivery.medicationCode,
      locationId: delivery.locationId,
      quantity: delivery.quantity,
      referenceId: delivery.deliveryId,
      closesReorderId: delivery.reorderId,
    });
    if (applied === undefined) throw unknownStock(delivery.medicationCode, delivery.locationId);
    // Still at or below the point (more was dispensed meanwhile): the next reorder opens right away.
    return this.reorderIfLow(session, delivery.medicationCode, delivery.locationId, applied, origin);
  }

  async list(filter: StockFilter): Promise<StockLine[]> {
    return this.stock.list(filter);
  }

  /** The drug's stock lines (one per location, or the one asked for); 404 when there is none. */
  async ofMedication(medicationCode: string, locationId?: string): Promise<StockLine[]> {
    const lines = await this.stock.list({ medicationCode, locationId, limit: 1000, offset: 0 });
    if (lines.length === 0) {
      throw new InventoryException(
        InventoryErrorCode.StockNotFound,
        locationId === undefined
          ? `medication ${medicationCode} is not stocked anywhere`
          : `medication ${medicationCode} is not stocked at ${locationId}`,
      );
    }
    return lines;
  }

  private async reorderIfLow(
    session: Session,
    medicationCode: string,
    locationId: string,
    level: AppliedMovement,
    origin: MessageOrigin,
  ): Promise<MovementResult> {
    const decision = decideReorder(level);
    if (!decision.open) return level;
    const reorderId = randomUUID();
    await this.stock.openReorder(session, {
      reorderId,
      medicationCode,
      locationId,
      quantity: decision.quantity,
      onHand: level.onHand,
      messageId: origin.messageId,
    });
    const payload: StockLowPayload = {
      reorderId,
      medicationCode,
      locationId,
      onHand: level.onHand,
      reorderPoint: level.reorderPoint,
      reorderQuantity: decision.quantity,
    };
    await this.outbox.append(session, [
      {
        exchange: PHARMACY_EXCHANGE,
        routingKey: PharmacyEvent.StockLow.routingKey,
        type: PharmacyEvent.StockLow.type,
        aggregateId: stockAggregate(medicationCode, locationId),
        payload,
        gtid: origin.gtid,
      },
    ]);
    // The consumer runtime wakes the relay after the batch commits.
    return { ...level, openReorderId: reorderId, openedReorderId: reorderId };
  }
}
