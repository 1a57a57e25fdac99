import { Inject, Injectable } from '@nestjs/common';
import { Session } from '@hospital/platform';
import { InboundMessage, MessageHandler, parseMessagePayload } from '@hospital/transactions';
import { StockLowPayload } from '../../contracts/pharmacy-events';
import { decideReorder, reorderFromStockLow } from './purchase-order';
import { PurchasingRepository } from './purchasing.repository';
import { PurchasingService } from './purchasing.service';

/**
 * Inventory's StockLow → an open reorder, in the inbox's local transaction. The same reorder id again
 * (a re-sent event under a new message id) records nothing; the purchase order itself is placed by the
 * purchasing sweep, outside this transaction, because a two-phase message is prepared before its local
 * transaction begins.
 */
@Injectable()
export class StockLowHandler implements MessageHandler<Session> {
  constructor(
    @Inject(PurchasingRepository) private readonly repository: PurchasingRepository,
    @Inject(PurchasingService) private readonly purchasing: PurchasingService,
  ) {}

  async handle(session: Session, message: InboundMessage): Promise<void> {
    const reorder = reorderFromStockLow(parseMessagePayload(StockLowPayload, message));
    if (await this.repository.insertReorder(session, reorder)) {
      this.purchasing.nudge();
      return;
    }
    const existing = await this.repository.findReorder(session, reorder.reorderId);
    // Another reorder under this id throws a SupplyChainException: dead-lettered by the inbox with its code.
    decideReorder(existing, reorder);
  }
}
