import fc from 'fast-check';
import { ProtocolPoint } from '../core/protocol-points';
import { MessagePublisher, OutboundMessage } from '../ports/messaging.ports';
import {
  DirectCheckBackClient,
  DirectServerClient,
  InMemoryBarrierStore,
  InMemoryMessageServerStore,
  MemoryTx,
  VirtualClock,
} from '../testing';
import { MessageTransactionProducer } from './producer';
import { MessageTransactionServer } from './server';

/** What goes wrong for one message. */
interface Plan {
  producerCrash?: 'message.producer.after-prepare' | 'message.producer.after-local-commit';
  serverCrashAfterPublish: boolean;
  localFails: boolean;
  /** The producer's calls to the server after prepare are refused (submit, abort). */
  serverUnreachableAfterPrepare: boolean;
  /** Unconfirmed publishes before the broker confirms. */
  publishFailures: number;
  /** Check-backs refused before the producer answers. */
  checkBackFailures: number;
  /** A recovery sweep runs between prepare and the local transaction, this far in time. */
  stallMs?: number;
}

class Crash extends Error {}

/** A broker that leaves the first `failures[id]` publishes of a message unconfirmed. */
class FlakyBroker implements MessagePublisher {
  readonly confirmed: OutboundMessage[] = [];
  readonly failures = new Map<string, number>();

  publish(messages: readonly OutboundMessage[]): Promise<void> {
    for (const m of messages) {
      const left = this.failures.get(m.id) ?? 0;
      if (left > 0) {
        this.failures.set(m.id, left - 1);
        return Promise.reject(new Error('no confirm'));
      }
    }
    this.confirmed.push(...messages);
    return Promise.resolve();
  }
}

const planArbitrary: fc.Arbitrary<Plan> = fc.record({
  producerCrash: fc.option(
    fc.constantFrom(
      'message.producer.after-prepare' as const,
      'message.producer.after-local-commit' as const,
    ),
    { nil: undefined },
  ),
  serverCrashAfterPublish: fc.boolean(),
  localFails: fc.boolean(),
  serverUnreachableAfterPrepare: fc.boolean(),
  publishFailures: fc.nat(2),
  checkBackFailures: fc.nat(2),
  stallMs: fc.option(fc.constantFrom(10, 1_000, 5_000), { nil: undefined }),
});

async function runWorld(plans: Plan[]): Promise<void> {
  const clock = new VirtualClock();
  const store = new InMemoryMessageServerStore(clock);
  const broker = new FlakyBroker();
  const checkBack = new DirectCheckBackClient();
  const byGtid = new Map(plans.map((plan, i) => [`m${i}`, plan]));
  const serverCrashed = new Set<string>();
  const server = new MessageTransactionServer(
    store,
    broker,
    checkBack,
    {
      checkBackAfterMs: 1_000,
      publishLeaseMs: 5_000,
      retryBaseMs: 100,
      retryMaxMs: 1_000,
      points: (point: ProtocolPoint, gtid) => {
        // The server dies once at this point for this message, then restarts.
        if (point === 'message.server.after-publish' && byGtid.get(gtid)?.serverCrashAfterPublish) {
          if (!serverCrashed.has(gtid)) {
            serverCrashed.add(gtid);
            throw new Crash();
          }
        }
      },
    },
    undefined,
    undefined,
    clock,
  );
  const barrier = new InMemoryBarrierStore();
  const refusedAfterPrepare = new Set<string>();
  const client = new DirectServerClient({
    prepare: (m) => server.prepare(m),
    submit: (gtid) =>
      refusedAfterPrepare.has(gtid) ? Promise.reject(new Error('refused')) : server.submit(gtid),
    abort: (gtid) =>
      refusedAfterPrepare.has(gtid) ? Promise.reject(new Error('refused')) : server.abort(gtid),
  });
  const producer = new MessageTransactionProducer<MemoryTx>(
    client,
    {
      runCommitted: async (gtid, work) => {
        const stall = byGtid.get(gtid)?.stallMs;
        if (stall !== undefined) {
          clock.advance(stall);
          await server.recover();
        }
        return barrier.runCommitted(gtid, work);
      },
      settle: (gtid) => barrier.settle(gtid),
    },
    {
      name: 'supply-chain',
      points: (point, gtid) => {
        const plan = byGtid.get(gtid);
        if (point === 'message.producer.after-prepare' && plan?.serverUnreachableAfterPrepare)
          refusedAfterPrepare.add(gtid);
        if (plan?.producerCrash === point) throw new Crash();
      },
    },
    undefined,
    undefined,
    clock,
  );
  const checkBackFailures = new Map(plans.map((p, i) => [`m${i}`, p.checkBackFailures]));
  checkBack.producers.set('supply-chain', {
    outcome: (gtid) => {
      const left = checkBackFailures.get(gtid) ?? 0;
      if (left > 0) {
        checkBackFailures.set(gtid, left - 1);
        return Promise.reject(new Error('producer down'));
      }
      return producer.outcome(gtid);
    },
  });

  const results = new Map<string, 'resolved' | 'rejected'>();
  for (const [gtid, plan] of byGtid) {
    broker.failures.set(gtid, plan.publishFailures);
    await producer
      .run(
        {
          gtid,
          exchange: 'pharmacy.events',
          routingKey: 'po',
          type: 'po',
          aggregateId: gtid,
          payload: { gtid },
        },
        (tx) => {
          tx.put(`order:${gtid}`, true);
          return plan.localFails ? Promise.reject(new Error('refused')) : Promise.resolve();
        },
      )
      .then(
        () => results.set(gtid, 'resolved'),
        () => results.set(gtid, 'rejected'),
      );
    // Safety at every step: nothing published whose local transaction did not commit.
    for (const m of broker.confirmed) expect(barrier.op(m.gtid)).toBe('commit');
  }

  // Faults stop; recovery runs until nothing is left.
  refusedAfterPrepare.clear();
  for (
    let round = 0;
    round < 40 && [...store.rows.values()].some((r) => r.state === 'prepared' || r.state === 'submitted');
    round += 1
  ) {
    clock.advance(5_000);
    await server.recover();
  }

  for (const [gtid] of byGtid) {
    const committed = barrier.op(gtid) === 'commit';
    const row = await store.get(gtid);
    const published = broker.confirmed.filter((m) => m.gtid === gtid);
    // Delivered if and only if the local transaction committed; every message finished.
    expect({ gtid, state: row?.state }).toEqual({ gtid, state: committed ? 'delivered' : 'aborted' });
    expect(published.length > 0).toBe(committed);
    expect(new Set(published.map((m) => m.id))).toEqual(new Set(committed ? [gtid] : []));
    // The order row exists exactly when the barrier says commit.
    expect(barrier.database.has(`order:${gtid}`)).toBe(committed);
    // A caller told "done" has its transaction committed.
    if (results.get(gtid) === 'resolved') expect(committed).toBe(true);
    // Duplicates only from a server crash after the confirm.
    if (!byGtid.get(gtid)?.serverCrashAfterPublish) expect(published.length).toBeLessThanOrEqual(1);
  }
}

describe('two-phase message under random faults', () => {
  it('delivers each message if and only if its local transaction committed, and finishes every one', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(planArbitrary, { minLength: 1, maxLength: 6 }), (plans) => runWorld(plans)),
      { numRuns: 300 },
    );
  }, 120_000);
});
