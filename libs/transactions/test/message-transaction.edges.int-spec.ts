import { randomBytes } from 'node:crypto';
import { Database, startTracing } from '@hospital/platform';
import { trace } from '@opentelemetry/api';
import { createTestDatabase } from '@hospital/platform/testing/test-database';
import {
  MessageServerTables1763800000100,
  MessageTraceContext1766600000200,
  outboundOf,
  PostgresMessageServerStore,
  PreparedMessage,
} from '@hospital/transactions';

/**
 * The two-phase message server's PostgreSQL store at its edges, one guard each: the durability of a
 * prepare, the submit lease between replicas, the state guards of the delivered and aborted marks, and
 * the recovery claim's due time and lease. The store is driven directly; the HTTP and broker round trip is
 * `message-transaction.int-spec.ts`.
 */
describe('two-phase message store at its edges', () => {
  const namespace = `msg-${randomBytes(4).toString('hex')}`;
  let db: Database;
  let drop: () => Promise<void>;
  let store: PostgresMessageServerStore;

  beforeAll(async () => {
    const created = await createTestDatabase('txmsg-server', [
      MessageServerTables1763800000100,
      MessageTraceContext1766600000200,
    ]);
    db = new Database(created.settings, 'message-edges-test');
    drop = created.drop;
    store = new PostgresMessageServerStore(db);
  });

  afterAll(async () => {
    await db.close();
    await drop();
  });

  let counter = 0;
  const message = (): PreparedMessage => {
    counter += 1;
    const gtid = `${namespace}-${counter}`;
    return {
      gtid,
      id: gtid,
      producer: 'pharmacy',
      checkBackUrl: 'http://127.0.0.1:1/pharmacy',
      exchange: 'pharmacy',
      routingKey: 'pharmacy.dispensed',
      type: 'pharmacy.dispensed',
      aggregateId: 'prescription-1',
      payload: {},
    };
  };
  const stateOf = async (gtid: string) => (await store.get(gtid))?.state;
  /** Makes a message's lease or check-back time run out now. */
  const due = (gtid: string) =>
    db.query(`UPDATE tx_message SET next_check_at = now() - interval '1 second' WHERE gtid = $1`, [gtid]);
  const claimedDue = async () => (await store.claimDue(500, 60_000)).map((r) => r.gtid);

  it('writes a prepared message with synchronous commit on', async () => {
    await db.query(`
      CREATE TABLE prepare_durability (gtid text, synchronous_commit text);
      CREATE FUNCTION note_prepare() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        INSERT INTO prepare_durability VALUES (NEW.gtid, current_setting('synchronous_commit'));
        RETURN NEW;
      END $$;
      CREATE TRIGGER note_prepare AFTER INSERT ON tx_message FOR EACH ROW EXECUTE FUNCTION note_prepare();`);
    try {
      const prepared = message();
      await store.prepare(prepared, 60_000);
      const rows = await db.query<{ synchronous_commit: string }>(
        'SELECT synchronous_commit FROM prepare_durability WHERE gtid = $1',
        [prepared.gtid],
      );
      expect(rows).toEqual([{ synchronous_commit: 'on' }]);
    } finally {
      await db.query(`DROP TRIGGER note_prepare ON tx_message; DROP FUNCTION note_prepare();
        DROP TABLE prepare_durability;`);
    }
  });

  it('lets one submit publish while its lease lasts, and another take over once it ran out', async () => {
    const prepared = message();
    await store.prepare(prepared, 60_000);
    await expect(store.claimSubmit(prepared.gtid, 60_000)).resolves.toMatchObject({ publish: true });
    // A second replica's submit of the same gtid while the first still publishes.
    await expect(store.claimSubmit(prepared.gtid, 60_000)).resolves.toMatchObject({ publish: false });
    await due(prepared.gtid);
    await expect(store.claimSubmit(prepared.gtid, 60_000)).resolves.toMatchObject({ publish: true });
  });

  it('never marks an aborted message delivered, nor aborts a submitted or delivered one', async () => {
    const aborted = message();
    await store.prepare(aborted, 60_000);
    await expect(store.markAborted(aborted.gtid, 'producer rolled back')).resolves.toMatchObject({
      changed: true,
    });
    await store.markDelivered(aborted.gtid);
    expect(await stateOf(aborted.gtid)).toBe('aborted');

    const submitted = message();
    await store.prepare(submitted, 60_000);
    await store.claimSubmit(submitted.gtid, 60_000);
    await expect(store.markAborted(submitted.gtid, 'late abort')).resolves.toMatchObject({ changed: false });
    expect(await stateOf(submitted.gtid)).toBe('submitted');
    await store.markDelivered(submitted.gtid);
    await expect(store.markAborted(submitted.gtid, 'late abort')).resolves.toMatchObject({ changed: false });
    expect(await stateOf(submitted.gtid)).toBe('delivered');
  });

  it('claims a message for its check-back only once it is due, and then holds it for the lease', async () => {
    const prepared = message();
    await store.prepare(prepared, 60_000);
    expect(await claimedDue()).not.toContain(prepared.gtid);
    await due(prepared.gtid);
    expect(await claimedDue()).toContain(prepared.gtid);
    // The next recovery round (or another replica) leaves it to the one that claimed it.
    expect(await claimedDue()).not.toContain(prepared.gtid);
  });

  it("keeps the trace of the producer's prepare and publishes the message with it", async () => {
    const tracing = startTracing('pharmacy-messages', {});
    try {
      const [traced, span] = await trace
        .getTracer('spec')
        .startActiveSpan('POST /internal/messages/prepare', async (active) => {
          const prepared = await store.prepare(message(), 60_000);
          active.end();
          return [prepared.record, active.spanContext()] as const;
        });
      const expected = `00-${span.traceId}-${span.spanId}-01`;
      expect((await store.get(traced.gtid))?.traceparent).toBe(expected);
      expect(outboundOf(traced).traceparent).toBe(expected);
      const untraced = (await store.prepare(message(), 60_000)).record;
      expect(untraced).not.toHaveProperty('traceparent');
      expect(outboundOf(untraced)).not.toHaveProperty('traceparent');
    } finally {
      await tracing.release();
    }
  });
});
