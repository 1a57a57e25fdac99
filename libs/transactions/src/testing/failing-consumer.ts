import { InboxConsumer } from '../outbox/inbox-consumer';
import { Disposition, InboundMessage } from '../ports/messaging.ports';
import { MemoryTransactionRunner } from './memory-session';
import { InMemoryInbox } from './outbox-memory';

/** What an inbox consumer made of a message whose handler threw. */
export interface FailedDelivery {
  disposition: Disposition;
  /** The committed inbox row of the message (absent while it is only retried). */
  inbox: { outcome: string; reason?: string } | undefined;
}

/**
 * Delivers one message (for the `deliveryCount + 1`-th time) to an `InboxConsumer` over the in-memory inbox
 * whose handler throws `error`: a spec reads how the consumer settles a handler's failure.
 */
export async function deliverFailing(
  error: unknown,
  { deliveryCount = 0, maxAttempts = 3 }: { deliveryCount?: number; maxAttempts?: number } = {},
): Promise<FailedDelivery> {
  const inbox = new InMemoryInbox();
  const consumer = new InboxConsumer(
    new MemoryTransactionRunner(),
    inbox,
    {
      handle: () => {
        throw error;
      },
    },
    { name: 'failing', maxAttempts },
  );
  const message: InboundMessage = {
    id: 'm-1',
    type: 'test.failing',
    gtid: 'g-1',
    payload: {},
    deliveryCount,
    replayed: false,
  };
  const [disposition] = await consumer.process([message]);
  const row = inbox.rows.get(`failing\u0000${message.id}`);
  return { disposition, inbox: row === undefined ? undefined : { ...row } };
}
