import { OutboundMessage } from '../ports/messaging.ports';
import { MessageRecord } from '../ports/message-transaction.ports';

/** The message could not be delivered: the local transaction did not commit, or the server aborted it. */
export class MessageAbortedError extends Error {
  constructor(
    readonly gtid: string,
    readonly reason: string,
  ) {
    super(`message ${gtid} aborted: ${reason}`);
  }
}

/** The gtid was used before and its local transaction already committed: the work is not run again. */
export class DuplicateMessageError extends Error {
  constructor(readonly gtid: string) {
    super(`message ${gtid} was already run; its local transaction committed before`);
  }
}

/** The server has no message with this gtid (submit or abort before prepare). */
export class UnknownMessageError extends Error {
  constructor(readonly gtid: string) {
    super(`no message ${gtid}`);
  }
}

/** The gtid is already registered by another producer. */
export class MessageConflictError extends Error {
  constructor(
    readonly gtid: string,
    readonly producer: string,
  ) {
    super(`message ${gtid} belongs to another producer than ${producer}`);
  }
}

/** A producer tried to submit or abort a message another producer prepared. */
export class NotMessageProducerError extends Error {
  constructor(
    readonly gtid: string,
    readonly producer: string,
  ) {
    super(`message ${gtid} was not prepared by ${producer}`);
  }
}

/** The message the server hands to the broker: its id is stable across re-publishes, so consumers de-duplicate. */
export function outboundOf(record: MessageRecord): OutboundMessage {
  return {
    id: record.id,
    exchange: record.exchange,
    routingKey: record.routingKey,
    type: record.type,
    source: record.producer,
    gtid: record.gtid,
    payload: record.payload,
    aggregateId: record.aggregateId,
    ...(record.traceparent === undefined ? {} : { traceparent: record.traceparent }),
  };
}
