import { ProtocolPoint, ProtocolPoints } from '../core/protocol-points';
import { BarrierConflictError, MessageBarrierStore } from '../ports/message-transaction.ports';
import {
  DirectCheckBackClient,
  DirectServerClient,
  InMemoryBarrierStore,
  InMemoryMessageServerStore,
  MemoryTx,
  RecordingPublisher,
  VirtualClock,
} from '../testing';
import { MessageTransactionProducer, TwoPhaseMessage } from './producer';
import { MessageTransactionServer } from './server';
import {
  DuplicateMessageError,
  MessageAbortedError,
  MessageConflictError,
  UnknownMessageError,
} from './types';

/** Thrown by a protocol point to stand for the process dying there: nothing after it runs. */
class Crash extends Error {
  constructor(readonly point: ProtocolPoint) {
    super(`crashed at ${point}`);
  }
}

const crashAt =
  (target?: ProtocolPoint): ProtocolPoints =>
  (point) => {
    if (point === target) throw new Crash(point);
  };

const CHECK_BACK_AFTER = 1_000;
const LEASE = 5_000;

function setup(
  options: { producerCrashAt?: ProtocolPoint; serverCrashAt?: ProtocolPoint; onPoint?: ProtocolPoints } = {},
) {
  const clock = new VirtualClock();
  const store = new InMemoryMessageServerStore(clock);
  const publisher = new RecordingPublisher();
  const checkBack = new DirectCheckBackClient();
  const server = new MessageTransactionServer(
    store,
    publisher,
    checkBack,
    {
      checkBackAfterMs: CHECK_BACK_AFTER,
      publishLeaseMs: LEASE,
      retryBaseMs: 100,
      retryMaxMs: 1_000,
      points: crashAt(options.serverCrashAt),
    },
    undefined,
    undefined,
    clock,
  );
  const barrier = new InMemoryBarrierStore();
  const client = new DirectServerClient(server);
  const producerPoints = crashAt(options.producerCrashAt);
  const makeProducer = (store: MessageBarrierStore<MemoryTx> = barrier) =>
    new MessageTransactionProducer<MemoryTx>(
      client,
      store,
      {
        name: 'supply-chain',
        points: (point, gtid) => {
          options.onPoint?.(point, gtid);
          producerPoints(point, gtid);
        },
      },
      undefined,
      undefined,
      clock,
    );
  const producer = makeProducer();
  checkBack.producers.set('supply-chain', producer);
  /** Lets time pass and runs one recovery sweep. */
  const sweepAfter = async (ms: number) => {
    clock.advance(ms);
    return server.recover();
  };
  return { clock, store, publisher, checkBack, server, barrier, client, producer, makeProducer, sweepAfter };
}

let seq = 0;
function order(): TwoPhaseMessage {
  seq += 1;
  return {
    gtid: `po-${seq}`,
    exchange: 'pharmacy.events',
    routingKey: 'supply-chain.purchase-order-placed',
    type: 'pharmacy.purchase-order-placed',
    aggregateId: `drug-${seq}@main-pharmacy`,
    payload: { purchaseOrderId: `po-${seq}`, quantity: 10 },
  };
}

/** Local work that writes the purchase order row and returns its id. */
const placeOrder = (message: TwoPhaseMessage) => (tx: MemoryTx) => {
  tx.put(`order:${message.gtid}`, message.payload);
  return Promise.resolve(message.gtid);
};

describe('two-phase message: normal runs', () => {
  it('prepares, commits the local transaction with its barrier row, submits, and publishes once', async () => {
    const { producer, store, publisher, barrier } = setup();
    const message = order();
    await expect(producer.run(message, placeOrder(message))).resolves.toBe(message.gtid);

    expect(barrier.database.get(`order:${message.gtid}`)).toEqual(message.payload);
    expect(barrier.op(message.gtid)).toBe('commit');
    expect((await store.get(message.gtid))?.state).toBe('delivered');
    expect(publisher.published).toEqual([
      {
        id: message.gtid,
        exchange: message.exchange,
        routingKey: message.routingKey,
        type: message.type,
        source: 'supply-chain',
        gtid: message.gtid,
        payload: message.payload,
        aggregateId: message.aggregateId,
      },
    ]);
  });

  it('uses a caller-chosen message id when the producer gives one', async () => {
    const { producer, publisher } = setup();
    const message = { ...order(), id: 'purchase-order-77' };
    await producer.run(message, placeOrder(message));
    expect(publisher.published.map((m) => m.id)).toEqual(['purchase-order-77']);
  });

  it('never publishes when the local transaction fails, and aborts the message at the server', async () => {
    const { producer, store, publisher, barrier, client, sweepAfter } = setup();
    const message = order();
    const run = producer.run(message, () => Promise.reject(new Error('supplier not on the formulary')));
    await expect(run).rejects.toThrow('supplier not on the formulary');

    expect(client.calls).toEqual([`prepare ${message.gtid}`, `abort ${message.gtid}`]);
    expect((await store.get(message.gtid))?.state).toBe('aborted');
    expect(barrier.op(message.gtid)).toBe('rollback');
    expect(barrier.database.has(`order:${message.gtid}`)).toBe(false);
    expect(await sweepAfter(60_000)).toBe(0);
    expect(publisher.published).toEqual([]);
  });

  it('settles a failed local transaction by check-back when the abort does not reach the server', async () => {
    const { producer, store, publisher, client, sweepAfter, checkBack } = setup();
    const message = order();
    const run = producer.run(message, () => {
      client.reachable = false;
      return Promise.reject(new Error('stock location closed'));
    });
    await expect(run).rejects.toThrow('stock location closed');
    expect((await store.get(message.gtid))?.state).toBe('prepared');

    expect(await sweepAfter(CHECK_BACK_AFTER)).toBe(1);
    expect(checkBack.asked).toEqual([message.gtid]);
    expect((await store.get(message.gtid))?.state).toBe('aborted');
    expect(publisher.published).toEqual([]);
  });

  it('refuses a gtid that is not a valid global transaction id, before contacting the server', async () => {
    const { producer, client } = setup();
    const message = { ...order(), gtid: 'no spaces/allowed' };
    await expect(producer.run(message, placeOrder(message))).rejects.toThrow(/gtid must be/);
    expect(client.calls).toEqual([]);
  });
});

describe('two-phase message: producer crashes', () => {
  it('after prepare: the check-back settles it aborted, and a late local transaction fails on the barrier', async () => {
    const { producer, store, publisher, barrier, sweepAfter } = setup({
      producerCrashAt: 'message.producer.after-prepare',
    });
    const message = order();
    await expect(producer.run(message, placeOrder(message))).rejects.toThrow(Crash);
    expect((await store.get(message.gtid))?.state).toBe('prepared');

    // Not yet due: the producer may still be running its local transaction.
    expect(await sweepAfter(CHECK_BACK_AFTER - 1)).toBe(0);
    expect(await sweepAfter(1)).toBe(1);
    expect((await store.get(message.gtid))?.state).toBe('aborted');
    expect(barrier.op(message.gtid)).toBe('rollback');

    // The producer's local transaction, arriving only now, must not commit.
    let ran = false;
    const late = barrier.runCommitted(message.gtid, () => {
      ran = true;
      return Promise.resolve();
    });
    await expect(late).rejects.toThrow(BarrierConflictError);
    expect(ran).toBe(false);
    // And a retried run of the same gtid is told it was aborted.
    const again = producer.run(message, placeOrder(message));
    await expect(again).rejects.toThrow(MessageAbortedError);
    expect(barrier.database.has(`order:${message.gtid}`)).toBe(false);
    expect(publisher.published).toEqual([]);
  });

  it('a live producer that stalls before its local transaction is refused by the barrier and told so', async () => {
    const base = setup();
    let sweep: Promise<number> | undefined;
    // The producer stalls between prepare and BEGIN for longer than the check-back delay.
    const stalled: MessageBarrierStore<MemoryTx> = {
      runCommitted: async (gtid, work) => {
        sweep = base.sweepAfter(CHECK_BACK_AFTER);
        await sweep;
        return base.barrier.runCommitted(gtid, work);
      },
      settle: (gtid) => base.barrier.settle(gtid),
    };
    const message = order();
    let ran = false;
    const run = base.makeProducer(stalled).run(message, (tx) => {
      ran = true;
      return placeOrder(message)(tx);
    });
    await expect(run).rejects.toThrow(MessageAbortedError);
    await expect(sweep).resolves.toBe(1);
    expect(ran).toBe(false);
    expect(base.barrier.op(message.gtid)).toBe('rollback');
    expect(base.barrier.database.has(`order:${message.gtid}`)).toBe(false);
    expect((await base.store.get(message.gtid))?.state).toBe('aborted');
    expect(base.publisher.published).toEqual([]);
  });

  it('a check-back that arrives while the local transaction runs waits for it and answers committed', async () => {
    const { producer, store, publisher, sweepAfter } = setup();
    const message = order();
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    let entered!: () => void;
    const inside = new Promise<void>((resolve) => (entered = resolve));
    const run = producer.run(message, async (tx) => {
      entered();
      await gate;
      return placeOrder(message)(tx);
    });
    await inside;
    const sweep = sweepAfter(CHECK_BACK_AFTER);
    release();
    await expect(run).resolves.toBe(message.gtid);
    await sweep;
    expect((await store.get(message.gtid))?.state).toBe('delivered');
    expect(publisher.count(message.gtid)).toBe(1);
  });

  it('after the local commit: the check-back answers committed and the message is published exactly once', async () => {
    const { producer, store, publisher, barrier, server, sweepAfter } = setup({
      producerCrashAt: 'message.producer.after-local-commit',
    });
    const message = order();
    await expect(producer.run(message, placeOrder(message))).rejects.toThrow(Crash);
    expect(barrier.op(message.gtid)).toBe('commit');
    expect((await store.get(message.gtid))?.state).toBe('prepared');
    expect(publisher.published).toEqual([]);

    expect(await sweepAfter(CHECK_BACK_AFTER)).toBe(1);
    expect((await store.get(message.gtid))?.state).toBe('delivered');
    expect(publisher.count(message.gtid)).toBe(1);

    // Nothing left for recovery, and a late submit from the restarted producer changes nothing.
    expect(await sweepAfter(60_000)).toBe(0);
    await expect(server.submit(message.gtid)).resolves.toBe('delivered');
    expect(publisher.count(message.gtid)).toBe(1);
  });

  it('when the submit does not reach the server, the caller still succeeds and the check-back delivers', async () => {
    const { producer, store, publisher, client, sweepAfter } = setup({
      onPoint: (point) => {
        if (point === 'message.producer.after-local-commit') client.reachable = false;
      },
    });
    const message = order();
    await expect(producer.run(message, placeOrder(message))).resolves.toBe(message.gtid);
    expect((await store.get(message.gtid))?.state).toBe('prepared');
    expect(await sweepAfter(CHECK_BACK_AFTER)).toBe(1);
    expect(publisher.count(message.gtid)).toBe(1);
  });

  it('a commit whose acknowledgement was lost is found in the barrier and delivered, not aborted', async () => {
    const base = setup();
    const lossy: MessageBarrierStore<MemoryTx> = {
      runCommitted: async (gtid, work) => {
        await base.barrier.runCommitted(gtid, work);
        throw new Error('connection lost during COMMIT');
      },
      settle: (gtid) => base.barrier.settle(gtid),
    };
    const producer = base.makeProducer(lossy);
    const message = order();
    await expect(producer.run(message, placeOrder(message))).rejects.toThrow('connection lost during COMMIT');
    expect(base.barrier.op(message.gtid)).toBe('commit');
    expect((await base.store.get(message.gtid))?.state).toBe('delivered');
    expect(base.publisher.count(message.gtid)).toBe(1);
  });

  it('retries an unreachable producer with back-off until it answers', async () => {
    const { producer, store, publisher, checkBack, sweepAfter } = setup({
      producerCrashAt: 'message.producer.after-local-commit',
    });
    const message = order();
    await expect(producer.run(message, placeOrder(message))).rejects.toThrow(Crash);
    checkBack.down.add('supply-chain');

    expect(await sweepAfter(CHECK_BACK_AFTER)).toBe(0);
    const first = await store.get(message.gtid);
    expect(first).toMatchObject({
      state: 'prepared',
      attempts: 1,
      lastError: expect.stringMatching(/refused/),
    });
    expect(await sweepAfter(99)).toBe(0);
    expect(checkBack.asked).toHaveLength(1); // backing off: not asked again before 100 ms
    expect(await sweepAfter(1)).toBe(0);
    expect((await store.get(message.gtid))?.attempts).toBe(2);
    expect(await sweepAfter(199)).toBe(0);
    expect(checkBack.asked).toHaveLength(2);

    checkBack.down.delete('supply-chain');
    expect(await sweepAfter(1)).toBe(1);
    expect(publisher.count(message.gtid)).toBe(1);
  });
});

describe('two-phase message: idempotence and server crashes', () => {
  it('treats a repeated prepare, submit and abort as no-ops', async () => {
    const { server, store, publisher } = setup();
    const message = {
      ...order(),
      id: 'po-x',
      producer: 'supply-chain',
      checkBackUrl: 'http://127.0.0.1:3010',
    };
    await expect(server.prepare(message)).resolves.toBe('prepared');
    await expect(server.prepare({ ...message, payload: { changed: true } })).resolves.toBe('prepared');
    expect((await store.get(message.gtid))?.payload).toEqual(message.payload);
    await expect(server.submit(message.gtid)).resolves.toBe('delivered');
    await expect(server.submit(message.gtid)).resolves.toBe('delivered');
    await expect(server.prepare(message)).resolves.toBe('delivered');
    await expect(server.abort(message.gtid)).resolves.toBe('delivered');
    expect(publisher.count('po-x')).toBe(1);

    const aborted = { ...message, gtid: `${message.gtid}-b`, id: 'po-y' };
    await server.prepare(aborted);
    await expect(server.abort(aborted.gtid)).resolves.toBe('aborted');
    await expect(server.abort(aborted.gtid)).resolves.toBe('aborted');
    await expect(server.prepare(aborted)).resolves.toBe('aborted');
    await expect(server.submit(aborted.gtid)).resolves.toBe('aborted');
    expect(publisher.count('po-y')).toBe(0);

    await expect(server.prepare({ ...message, producer: 'dispensing' })).rejects.toThrow(
      MessageConflictError,
    );
    await expect(server.submit('never-prepared')).rejects.toThrow(UnknownMessageError);
    await expect(server.abort('never-prepared')).rejects.toThrow(UnknownMessageError);
  });

  it('does not publish twice for a submit that arrives while another is publishing', async () => {
    const { server, store, publisher } = setup();
    const message = {
      ...order(),
      id: 'po-z',
      producer: 'supply-chain',
      checkBackUrl: 'http://127.0.0.1:3010',
    };
    await server.prepare(message);
    const [first, second] = await Promise.all([server.submit(message.gtid), server.submit(message.gtid)]);
    expect([first, second].sort()).toEqual(['delivered', 'submitted']);
    expect((await store.get(message.gtid))?.state).toBe('delivered');
    expect(publisher.count('po-z')).toBe(1);
  });

  it('does not run the local work twice when the same gtid is run again after success', async () => {
    const { producer, publisher } = setup();
    const message = order();
    await producer.run(message, placeOrder(message));
    let ran = false;
    const again = producer.run(message, () => {
      ran = true;
      return Promise.resolve('twice');
    });
    await expect(again).rejects.toThrow(DuplicateMessageError);
    expect(ran).toBe(false);
    expect(publisher.count(message.gtid)).toBe(1);
  });

  it('re-runs a gtid whose earlier run crashed after the local commit: submits it, runs nothing twice', async () => {
    const crashed = setup({ producerCrashAt: 'message.producer.after-local-commit' });
    const message = order();
    await expect(crashed.producer.run(message, placeOrder(message))).rejects.toThrow(Crash);
    const restarted = new MessageTransactionProducer<MemoryTx>(crashed.client, crashed.barrier, {
      name: 'supply-chain',
    });
    await expect(restarted.run(message, placeOrder(message))).rejects.toThrow(DuplicateMessageError);
    expect((await crashed.store.get(message.gtid))?.state).toBe('delivered');
    expect(crashed.publisher.count(message.gtid)).toBe(1);
  });

  it('re-publishes with the same message id when the server dies after the broker confirm, before the mark', async () => {
    const { producer, store, publisher, clock } = setup({ serverCrashAt: 'message.server.after-publish' });
    const message = order();
    // The producer's submit fails (the server died mid-request), yet its caller succeeds.
    await expect(producer.run(message, placeOrder(message))).resolves.toBe(message.gtid);
    expect((await store.get(message.gtid))?.state).toBe('submitted');
    expect(publisher.count(message.gtid)).toBe(1);

    // The publishing lease holds recovery back; then the restarted server re-publishes (same id).
    const restarted = new MessageTransactionServer(
      store,
      publisher,
      new DirectCheckBackClient(),
      { publishLeaseMs: LEASE },
      undefined,
      undefined,
      clock,
    );
    clock.advance(LEASE - 1);
    expect(await restarted.recover()).toBe(0);
    expect(publisher.count(message.gtid)).toBe(1);
    clock.advance(1);
    expect(await restarted.recover()).toBe(1);
    expect((await store.get(message.gtid))?.state).toBe('delivered');
    expect(publisher.published.map((m) => m.id)).toEqual([message.gtid, message.gtid]);
    clock.advance(60_000);
    expect(await restarted.recover()).toBe(0);
    expect(publisher.count(message.gtid)).toBe(2);
  });

  it('re-publishes a message the broker did not confirm, after back-off', async () => {
    const { producer, store, publisher, sweepAfter } = setup();
    publisher.failNext = 1;
    const message = order();
    await expect(producer.run(message, placeOrder(message))).resolves.toBe(message.gtid);
    expect(await store.get(message.gtid)).toMatchObject({ state: 'submitted', attempts: 1 });
    expect(publisher.count(message.gtid)).toBe(0);
    expect(await sweepAfter(100)).toBe(1);
    expect((await store.get(message.gtid))?.state).toBe('delivered');
    expect(publisher.count(message.gtid)).toBe(1);
  });
});
