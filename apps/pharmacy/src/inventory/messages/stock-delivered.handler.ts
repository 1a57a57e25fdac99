import { Inject, Injectable } from '@nestjs/common';
import type { Session } from '@hospital/platform';
import { type InboundMessage, type MessageHandler, parseMessagePayload } from '@hospital/transactions';
import { StockDeliveredPayload } from '../../contracts/pharmacy-events';
import { StockService } from '../stock/stock.service';

/** Queue of the inventory's `StockDelivered` consumer. */
export const DELIVERIES_QUEUE = 'pharmacy.inventory.deliveries';

/** Puts delivered units into stock and closes their reorder, in the inbox's transaction. */
@Injectable()
export class StockDeliveredHandler implements MessageHandler<Session> {
  constructor(@Inject(StockService) private readonly stock: StockService) {}

  async handle(session: Session, message: InboundMessage): Promise<void> {
    const delivery = parseMessagePayload(StockDeliveredPayload, message);
    // A drug the location does not stock throws an InventoryException: dead-lettered with its code.
    await this.stock.applyDelivery(session, delivery, { messageId: message.id, gtid: message.gtid });
  }
}
