import { InboundMessage } from '../ports/messaging.ports';
import { InMemoryInbox } from '../testing/outbox-memory';
import { MemoryTransactionRunner } from '../testing/memory-session';
import { InboxConsumer, RejectedMessageError } from '../outbox/inbox-consumer';
import { consumerLimits, RETRY_FOREVER_DELIVERY_LIMIT } from './consumer-limits';

describe('consumerLimits', () => {
  it('keeps the configured attempts, gap patience and broker limit by default', () => {
    expect(consumerLimits(5)).toEqual({ maxAttempts: 5, gapPatience: 15, deliveryLimit: 20 });
  });

  it('never gives up on a transient failure of a retry-forever consumer, but still bounds its gap patience', () => {
    expect(consumerLimits(5, 'retry-forever')).toEqual({
      maxAttempts: Number.POSITIVE_INFINITY,
      gapPatience: 15,
      deliveryLimit: RETRY_FOREVER_DELIVERY_LIMIT,
    });
  });
});

describe('InboxConsumer with retry-forever limits', () => {
  const delivery = (deliveryCount: number): InboundMessage => ({
    id: 'order-1',
    type: 'lis.analyzer-order',
    gtid: 'g-order-1',
    source: 'lis',
    payload: {},
    deliveryCount,
    replayed: false,
  });
  const consumer = (handle: () => Promise<void>, inbox: InMemoryInbox) =>
    new InboxConsumer(
      new MemoryTransactionRunner(),
      inbox,
      { handle },
      {
        name: 'lis.analyzer-orders',
        ...consumerLimits(5, 'retry-forever'),
      },
    );

  it('hands a message whose device is down back for retry on every delivery, recording nothing', async () => {
    const inbox = new InMemoryInbox();
    const down = consumer(() => Promise.reject(new Error('connect ECONNREFUSED')), inbox);
    for (const count of [0, 4, 19, 500, RETRY_FOREVER_DELIVERY_LIMIT - 2]) {
      await expect(down.process([delivery(count)])).resolves.toMatchObject([{ kind: 'retry' }]);
    }
    expect(inbox.rows.size).toBe(0);
  });

  it('still dead-letters a permanent rejection at once', async () => {
    const inbox = new InMemoryInbox();
    const refusing = consumer(() => Promise.reject(new RejectedMessageError('analyzer said AR')), inbox);
    await expect(refusing.process([delivery(0)])).resolves.toEqual([
      { kind: 'dead-letter', reason: 'analyzer said AR' },
    ]);
    expect(inbox.rows.size).toBe(1);
  });
});
