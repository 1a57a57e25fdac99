import { AUDIT_EXCHANGE, AUDIT_RECORD_TYPE, type AuditRecord } from '@hospital/platform';
import type { MessagePublisher, OutboundMessage } from '../ports/messaging.ports';
import { BrokerAuditSink } from './audit-broker.sink';
import { AUDIT_AGGREGATE } from './audit-trail.sink';

/** A publisher that keeps what it was given, and refuses when told to (the broker did not confirm). */
class RecordingPublisher implements MessagePublisher {
  readonly published: OutboundMessage[][] = [];
  failure?: Error;

  publish(messages: readonly OutboundMessage[]): Promise<void> {
    if (this.failure) return Promise.reject(this.failure);
    this.published.push([...messages]);
    return Promise.resolve();
  }
}

const refusal = (over: Partial<AuditRecord> = {}): AuditRecord => ({
  id: '6f1c3a52-3d0e-4c1b-9a58-0d2f4b1e7c11',
  recorded: '2026-12-06T14:00:00.000Z',
  service: 'gateway',
  action: 'R',
  interaction: '/fhir/*path',
  resourceType: 'Patient',
  outcome: '4',
  status: 401,
  reason: 'missing bearer token',
  ...over,
});

describe('BrokerAuditSink', () => {
  it('publishes each record as the outbox relay would: its id, the audit type and routing key, the record itself', async () => {
    const publisher = new RecordingPublisher();
    const sink = new BrokerAuditSink(publisher, 'gateway');
    const record = refusal({ gtid: 'gt-1' });
    await sink.record([record]);
    expect(publisher.published).toEqual([
      [
        {
          id: record.id,
          exchange: AUDIT_EXCHANGE,
          routingKey: `${AUDIT_RECORD_TYPE}.gateway`,
          type: AUDIT_RECORD_TYPE,
          source: 'gateway',
          gtid: 'gt-1',
          payload: record,
          aggregateId: AUDIT_AGGREGATE,
        },
      ],
    ]);
  });

  it('gives a record without a gtid a fresh one, different per record', async () => {
    const publisher = new RecordingPublisher();
    await new BrokerAuditSink(publisher, 'gateway').record([
      refusal(),
      refusal({ id: '0b7d3f0e-8a5e-4a4c-b9a3-5d0c1f2e3a44' }),
    ]);
    const [first, second] = publisher.published[0] ?? [];
    expect(first?.gtid).toMatch(/^[0-9a-f-]{36}$/);
    expect(second?.gtid).toMatch(/^[0-9a-f-]{36}$/);
    expect(first?.gtid).not.toBe(second?.gtid);
  });

  it('rejects when the broker did not confirm, and publishes nothing for no records', async () => {
    const publisher = new RecordingPublisher();
    const sink = new BrokerAuditSink(publisher, 'gateway');
    await sink.record([]);
    expect(publisher.published).toEqual([]);
    publisher.failure = new Error('channel closed');
    await expect(sink.record([refusal()])).rejects.toThrow('channel closed');
  });
});
