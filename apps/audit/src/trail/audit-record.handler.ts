import { Inject, Injectable } from '@nestjs/common';
import { AuditRecordMessage, type Session } from '@hospital/platform';
import {
  parseMessagePayload,
  RejectedMessageError,
  type InboundMessage,
  type MessageHandler,
} from '@hospital/transactions';
import { AuditEventRepository } from './audit-event.repository';

/**
 * Stores each audit record once, in the inbox's transaction: the inbox de-duplicates by message id, which
 * is the record id. A record that fails the contract is dead-lettered with the reason and nothing of it is
 * stored (the whole batch is validated before the append).
 */
@Injectable()
export class AuditRecordHandler implements MessageHandler<Session> {
  constructor(@Inject(AuditEventRepository) private readonly repository: AuditEventRepository) {}

  async handle(session: Session, message: InboundMessage): Promise<void> {
    await this.handleBatch(session, [message]);
  }

  async handleBatch(session: Session, messages: readonly InboundMessage[]): Promise<void> {
    const records = messages.map((message) => {
      const record = parseMessagePayload(AuditRecordMessage, message);
      if (record.id !== message.id) {
        throw new RejectedMessageError(`${message.type}: record id differs from the message id`);
      }
      return record;
    });
    await this.repository.append(session, records);
  }
}
