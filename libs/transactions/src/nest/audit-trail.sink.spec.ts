import type { AuditRecord, Database, Session } from '@hospital/platform';
import type { NewOutboxEvent } from '../ports/messaging.ports';
import { AUDIT_AGGREGATE, OutboxAuditSink } from './audit-trail.sink';
import type { Outbox } from './messaging.module';

const record = (n: number): AuditRecord => ({
  id: `00000000-0000-4000-8000-${String(n).padStart(12, '0')}`,
  recorded: '2026-01-01T00:00:00.000Z',
  service: 'emr',
  action: 'R',
  interaction: 'read',
  resourceType: 'Patient',
  resourceId: `p${n}`,
  patient: `p${n}`,
  outcome: '0',
  status: 200,
});

/** A database whose transactions take a while to commit, and an outbox that records what each appended. */
function world(options: { failCommits?: number } = {}) {
  const transactions: NewOutboxEvent[][] = [];
  let failures = options.failCommits ?? 0;
  let notified = 0;
  const db = {
    transaction: async <T>(work: (session: Session) => Promise<T>): Promise<T> => {
      const appended: NewOutboxEvent[] = [];
      const result = await work(appended as unknown as Session);
      await new Promise((resolve) => setTimeout(resolve, 5));
      if (failures > 0) {
        failures -= 1;
        throw new Error('connection lost');
      }
      transactions.push(appended);
      return result;
    },
  } as unknown as Database;
  const outbox = {
    append: (session: Session, events: readonly NewOutboxEvent[]) => {
      (session as unknown as NewOutboxEvent[]).push(...events);
      return Promise.resolve([]);
    },
    notify: () => {
      notified += 1;
    },
  } as unknown as Outbox;
  return { sink: new OutboxAuditSink(db, outbox), transactions, notified: () => notified };
}

describe('the outbox audit sink', () => {
  it('writes concurrent requests’ records in few transactions, each record once, and wakes the relay', async () => {
    const { sink, transactions, notified } = world();
    await Promise.all(Array.from({ length: 60 }, (_, i) => sink.record([record(i)])));
    const ids = transactions.flat().map((e) => e.id);
    expect(ids.sort()).toEqual(Array.from({ length: 60 }, (_, i) => record(i).id).sort());
    expect(transactions.length).toBeLessThanOrEqual(4);
    expect(notified()).toBe(transactions.length);
    expect(transactions[0][0]).toEqual({
      id: record(0).id,
      exchange: 'hospital.audit',
      routingKey: 'audit.record.emr',
      type: 'audit.record',
      aggregateId: AUDIT_AGGREGATE,
      payload: record(0),
    });
  });

  it('resolves only after the commit, and rejects when the records could not be committed', async () => {
    const { sink, transactions } = world({ failCommits: 1 });
    await expect(sink.record([record(1)])).rejects.toThrow('connection lost');
    expect(transactions).toEqual([]);
    await sink.record([record(2), record(3)]);
    expect(transactions.map((t) => t.map((e) => e.id))).toEqual([[record(2).id, record(3).id]]);
  });

  it('writes nothing for no records', async () => {
    const { sink, transactions } = world();
    await sink.record([]);
    expect(transactions).toEqual([]);
  });
});
