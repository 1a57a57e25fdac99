import { ORDER_RESULT_TYPE } from '@hospital/fhir';
import { eventually } from '@hospital/platform/testing/waiting';
import { orderControlId } from '../src/analyzer/oml-o21.builder';
import { LAB_ORDER_PLACED } from '../src/orders/lab-order.event';
import { LisHarness } from './support/lis-harness';

/**
 * The LIS end to end over real HTTP, PostgreSQL, RabbitMQ and MLLP on loopback: an order the EMR's record
 * update commits reaches the simulated analyzer once (OML^O21 from the outbox), the analyzer's ORU^R01
 * becomes Observations and a DiagnosticReport at /fhir and one order-result event; an AR dead-letters the
 * order, an AE or a dropped connection keeps it until the analyzer takes it.
 */
jest.setTimeout(60_000);

describe('LIS orders to the analyzer and results back over MLLP', () => {
  let lis: LisHarness;

  beforeAll(async () => {
    lis = await LisHarness.start({ http: 4600, listener: 4631, analyzer: 4630 });
  }, 60_000);

  afterAll(async () => {
    await lis?.stop();
  });

  /** The outbox message of the order event for `orderId`. */
  const orderEvents = (orderId: string) =>
    lis.db.query<{ id: string }>(
      `SELECT id FROM tx_outbox WHERE type = $1 AND payload->>'serviceRequestId' = $2`,
      [LAB_ORDER_PLACED, orderId],
    );
  const resultEvents = (orderId: string) =>
    lis.events.filter((e) => e.type === ORDER_RESULT_TYPE && e.payload.serviceRequestId === orderId);

  it('sends a committed lab order once, and turns its result into FHIR resources and one order-result event', async () => {
    const { patientId, orderIds } = await lis.recordUpdate();
    const [orderId] = orderIds as [string];
    const [event] = await orderEvents(orderId);
    expect(event).toBeDefined();

    const received = await eventually(
      () => Promise.resolve(lis.analyzer.orders.filter((o) => o.placerOrderNumber === orderId)),
      (orders) => orders.length > 0,
    );
    expect(received).toEqual([
      expect.objectContaining({ controlId: orderControlId(event.id), panel: '58410-2' }),
    ]);

    // The analyzer's result: one DiagnosticReport and three Observations for the order, the order completed.
    const reports = await eventually(
      () => lis.fhir(`DiagnosticReport?based-on=ServiceRequest/${orderId}`),
      (r) => ((r.body.entry as unknown[] | undefined) ?? []).length > 0,
    );
    const [report] = (reports.body.entry as { resource: Record<string, unknown> }[]).map((e) => e.resource);
    expect(report).toMatchObject({
      status: 'final',
      subject: { reference: `Patient/${patientId}` },
      category: [{ coding: [{ code: 'LAB' }] }],
    });
    const observations = await lis.fhir(`Observation?based-on=ServiceRequest/${orderId}`);
    const codes = (observations.body.entry as { resource: { code: { coding: { code: string }[] } } }[]).map(
      (e) => e.resource.code.coding[0]?.code,
    );
    expect(codes.sort()).toEqual(['6690-2', '718-7', '777-3']);
    expect((await lis.fhir(`ServiceRequest/${orderId}`)).body.status).toBe('completed');

    const events = await eventually(
      () => Promise.resolve(resultEvents(orderId)),
      (e) => e.length > 0,
    );
    expect(events).toHaveLength(1);
    expect(events[0]?.payload).toMatchObject({ department: 'lis', patientId, orderStatus: 'completed' });

    // The EMR sends the same order again in a later record update: kept, not sent to the analyzer again.
    await lis.recordUpdate({ patientId, orderIds: [orderId] });
    expect(await orderEvents(orderId)).toHaveLength(1);
    await lis.analyzer.settled();
    expect(lis.analyzer.orders.filter((o) => o.placerOrderNumber === orderId)).toHaveLength(1);
    expect(resultEvents(orderId)).toHaveLength(1);
  });

  it('sends no order when the record update aborts', async () => {
    const { orderIds } = await lis.recordUpdate({ commit: false });
    expect(await orderEvents(orderIds[0])).toHaveLength(0);
    expect((await lis.fhir(`ServiceRequest/${orderIds[0]}`)).status).toBe(404);
  });

  it('dead-letters an order the analyzer rejects (AR), with the analyzer’s reason', async () => {
    lis.analyzer.answer('AR');
    try {
      const { orderIds } = await lis.recordUpdate();
      const [event] = await eventually(
        () => orderEvents(orderIds[0]),
        (rows) => rows.length > 0,
      );
      const inbox = await eventually(
        () =>
          lis.db.query<{ outcome: string; reason: string }>(
            `SELECT outcome, reason FROM tx_inbox WHERE consumer = 'lis.analyzer-orders' AND message_id = $1`,
            [event.id],
          ),
        (rows) => rows.length > 0,
      );
      expect(inbox).toEqual([{ outcome: 'dead-lettered', reason: expect.stringContaining('AR') }]);
      expect(lis.analyzer.orders.some((o) => o.placerOrderNumber === orderIds[0])).toBe(false);
    } finally {
      lis.analyzer.answer('AA');
    }
  });

  it('keeps an order through AE answers and dropped connections, and delivers it once the analyzer takes it', async () => {
    lis.analyzer.answer('AE');
    const before = lis.analyzer.counters.orderMessages;
    const { orderIds } = await lis.recordUpdate();
    const orderId = orderIds[0];
    // More attempts than CONSUMER_MAX_ATTEMPTS (3): a bounded consumer would have dead-lettered it by now.
    await eventually(
      () => Promise.resolve(lis.analyzer.counters.orderMessages),
      (n) => n >= before + 4,
      30_000,
    );
    lis.analyzer.answer('drop');
    const dropped = lis.analyzer.counters.orderMessages;
    await eventually(
      () => Promise.resolve(lis.analyzer.counters.orderMessages),
      (n) => n >= dropped + 1,
      30_000,
    );
    const [event] = await orderEvents(orderId);
    expect(
      await lis.db.query(
        `SELECT 1 FROM tx_inbox WHERE consumer = 'lis.analyzer-orders' AND message_id = $1`,
        [event.id],
      ),
    ).toHaveLength(0);

    lis.analyzer.answer('AA');
    const received = await eventually(
      () => Promise.resolve(lis.analyzer.orders.filter((o) => o.placerOrderNumber === orderId)),
      (orders) => orders.length > 0,
      45_000,
    );
    expect(received).toEqual([expect.objectContaining({ controlId: orderControlId(event.id) })]);
    const events = await eventually(
      () => Promise.resolve(resultEvents(orderId)),
      (e) => e.length > 0,
    );
    expect(events).toHaveLength(1);
  });
});
