import { InboundMessage, InboxOutcome } from '../ports/messaging.ports';
import { InMemoryInbox } from '../testing/outbox-memory';
import { MemoryTransactionRunner } from '../testing/memory-session';
import { classify, gapReason, InboxConsumer } from './inbox-consumer';

/** `classify`, the inbox's decision, on the cases around a missing predecessor. */
describe('classify', () => {
  const message = (sequence: number, extra: Partial<InboundMessage> = {}): InboundMessage => ({
    id: `m${sequence}`,
    type: 'pharmacy.stock-changed',
    gtid: `g${sequence}`,
    source: 'pharmacy',
    aggregateId: 'drug-1@ward-3',
    sequence,
    payload: {},
    deliveryCount: 0,
    replayed: false,
    ...extra,
  });
  const none = new Map<string, InboxOutcome>();

  it('holds a successor back on every delivery before its patience, and never applies it ahead', () => {
    for (let deliveryCount = 0; deliveryCount < 9; deliveryCount += 1) {
      const cursors = new Map([['pharmacy|drug-1@ward-3', 1]]);
      expect(classify([message(3, { deliveryCount })], none, cursors, 10)).toEqual(['gap']);
      expect(cursors.get('pharmacy|drug-1@ward-3')).toBe(1);
    }
  });

  it('dead-letters a successor whose predecessor outlasted its patience, leaving the cursor before the gap', () => {
    const cursors = new Map([['pharmacy|drug-1@ward-3', 1]]);
    const late = message(3, { deliveryCount: 9 });
    expect(classify([late], none, cursors, 10)).toEqual(['gap-expired']);
    expect(cursors.get('pharmacy|drug-1@ward-3')).toBe(1);
    expect(gapReason(late, cursors)).toContain('sequence 2 of aggregate drug-1@ward-3 from pharmacy');
  });

  it('makes a replayed dead letter wait for its predecessor too, and applies it once that one is decided', () => {
    const seen = new Map<string, InboxOutcome>([['m3', 'dead-lettered']]);
    const replay = message(3, { replayed: true });
    expect(classify([replay], seen, new Map([['pharmacy|drug-1@ward-3', 1]]), 10)).toEqual(['gap']);
    const cursors = new Map([['pharmacy|drug-1@ward-3', 2]]);
    expect(classify([replay], seen, cursors, 10)).toEqual(['new']);
    expect(cursors.get('pharmacy|drug-1@ward-3')).toBe(3);
  });

  it('applies a successor in the same batch right behind its predecessor', () => {
    const cursors = new Map<string, number>();
    expect(classify([message(2), message(1), message(2)], none, cursors, 10)).toEqual(['gap', 'new', 'new']);
    expect(cursors.get('pharmacy|drug-1@ward-3')).toBe(2);
    expect(classify([message(1), message(2)], none, new Map(), 10)).toEqual(['new', 'new']);
  });
});

/** The cases around duplicates and rejections, without an ordering key. */
describe('classify, unordered messages', () => {
  const message = (id: string, extra: Partial<InboundMessage> = {}): InboundMessage => ({
    id,
    type: 'lab.result-released',
    gtid: `g-${id}`,
    source: 'lis',
    payload: {},
    deliveryCount: 0,
    replayed: false,
    ...extra,
  });

  it('applies a message delivered twice in one batch once', () => {
    expect(classify([message('a'), message('b'), message('a')], new Map(), new Map(), 10)).toEqual([
      'new',
      'new',
      'duplicate',
    ]);
  });

  it('never applies a redelivery of a dead-lettered message unless it is a replay', () => {
    const seen = new Map<string, InboxOutcome>([['a', 'dead-lettered']]);
    expect(classify([message('a', { deliveryCount: 1 })], seen, new Map(), 10)).toEqual([
      'dead-lettered-before',
    ]);
    expect(classify([message('a', { replayed: true })], seen, new Map(), 10)).toEqual(['new']);
  });
});

describe('InboxConsumer', () => {
  it('dead-letters a message failing on every delivery once it has failed maxAttempts times', async () => {
    const inbox = new InMemoryInbox();
    const consumer = new InboxConsumer(
      new MemoryTransactionRunner(),
      inbox,
      { handle: () => Promise.reject(new Error('lab system unreachable')) },
      { name: 'results', maxAttempts: 3 },
    );
    const delivery = (deliveryCount: number): InboundMessage => ({
      id: 'result-1',
      type: 'lab.result-released',
      gtid: 'g-result-1',
      source: 'lis',
      payload: {},
      deliveryCount,
      replayed: false,
    });
    await expect(consumer.process([delivery(0)])).resolves.toMatchObject([{ kind: 'retry' }]);
    await expect(consumer.process([delivery(1)])).resolves.toMatchObject([{ kind: 'retry' }]);
    await expect(consumer.process([delivery(2)])).resolves.toMatchObject([
      { kind: 'dead-letter', reason: expect.stringContaining('failed 3 time(s)') },
    ]);
    expect(inbox.rows.size).toBe(1);
  });

  it('takes a last failing delivery for a duplicate when another consumer applied the message meanwhile', async () => {
    const inbox = new InMemoryInbox();
    const runner = new MemoryTransactionRunner();
    const delivery: InboundMessage = {
      id: 'result-2',
      type: 'lab.result-released',
      gtid: 'g-result-2',
      source: 'lis',
      payload: {},
      deliveryCount: 2,
      replayed: false,
    };
    const other = new InboxConsumer(
      runner,
      inbox,
      { handle: () => Promise.resolve() },
      { name: 'results', maxAttempts: 3 },
    );
    // The other replica holds an earlier delivery and commits it while this one runs; this one then
    // fails on the inbox's key, on its last attempt.
    const consumer = new InboxConsumer(
      runner,
      inbox,
      {
        handle: async () => {
          await expect(other.process([{ ...delivery, deliveryCount: 1 }])).resolves.toEqual([
            { kind: 'applied' },
          ]);
          throw new Error('duplicate key value violates unique constraint "tx_inbox_pkey"');
        },
      },
      { name: 'results', maxAttempts: 3 },
    );
    await expect(consumer.process([delivery])).resolves.toEqual([{ kind: 'duplicate' }]);
    expect(inbox.outcome('results', 'result-2')).toBe('applied');
  });
});
