import { Inject, Injectable } from '@nestjs/common';
import type { Session } from '@hospital/platform';
import { type InboundMessage, type MessageHandler, parseMessagePayload } from '@hospital/transactions';
import { MedicationDispensedPayload } from '../../contracts/pharmacy-events';
import { StockService } from '../stock/stock.service';

/** Queue of the inventory's `MedicationDispensed` consumer. */
export const DISPENSES_QUEUE = 'pharmacy.inventory.dispenses';

/** Takes dispensed units out of stock, in the inbox's transaction (applied once per message). */
@Injectable()
export class DispenseAppliedHandler implements MessageHandler<Session> {
  constructor(@Inject(StockService) private readonly stock: StockService) {}

  async handle(session: Session, message: InboundMessage): Promise<void> {
    const dispense = parseMessagePayload(MedicationDispensedPayload, message);
    // A drug the location does not stock throws an InventoryException: dead-lettered with its code.
    await this.stock.applyDispense(session, dispense, { messageId: message.id, gtid: message.gtid });
  }

  /** A batch of dispenses in one statement (the consumer falls back to `handle` if it is rejected). */
  async handleBatch(session: Session, messages: readonly InboundMessage[]): Promise<void> {
    const dispenses = messages.map((message) => ({
      dispense: parseMessagePayload(MedicationDispensedPayload, message),
      origin: { messageId: message.id, gtid: message.gtid },
    }));
    await this.stock.applyDispenses(session, dispenses);
  }
}
