import { existsSync } from 'node:fs';
import { pharmacyServices, serviceEntry } from '../../../scripts/services';
import {
  FAULTS,
  FaultKind,
  OutboxFaultLab,
  OutboxTrialResult,
  planOutboxTrials,
} from '../../../scripts/lib/faults-outbox';

/**
 * The pharmacy's chain (dispensing → inventory → supply chain → supplier; outbox / inbox over RabbitMQ,
 * purchase orders as two-phase messages) under real faults, one trial each: the relay SIGKILLed mid-batch,
 * the inventory consumer SIGKILLed between its inbox commit and the ack, RabbitMQ stopped and started with
 * its own commands mid-stream, delivered events re-published on the broker, two relays at once, and the
 * supply chain SIGKILLed between its local commit and the submit of a purchase order. After each, with
 * everything settled, every committed dispense is applied exactly once, stock = initial − dispensed +
 * delivered for every drug at every location, every reorder has exactly one purchase order that reached the
 * supplier once, and no two-phase message is left prepared. The same trials as `npm run faults -- outbox`;
 * the parts run from dist/ (built by `npm test`) on ports 3251–3257 and `hospital_*_faultspec` databases.
 */
jest.setTimeout(60_000);

const SPEC_FAULTS: readonly FaultKind[] = [
  'relay-kill-mid-batch',
  'consumer-kill',
  'broker-restart',
  'duplicates',
  'two-relays',
  'producer-kill-after-local-commit',
];

describe('pharmacy outbox / inbox and two-phase purchase orders under real faults', () => {
  let lab: OutboxFaultLab | undefined;
  const results = new Map<FaultKind, OutboxTrialResult>();

  beforeAll(async () => {
    const missing = pharmacyServices.map((s) => serviceEntry(s.name)).filter((entry) => !existsSync(entry));
    if (missing.length > 0) throw new Error(`build first (npm test does): missing ${missing.join(', ')}`);
    lab = await OutboxFaultLab.open({
      suffix: 'faultspec',
      namespace: 'faultspec-outbox',
      portBase: 3250,
      loadMs: 2_000,
    });
    for (const plan of planOutboxTrials(SPEC_FAULTS.length, SPEC_FAULTS))
      results.set(plan.fault, await lab.runTrial(plan));
    // About 70 s: 2 s of dispenses per trial, 15 s for the broker's restart, a few seconds to settle.
  }, 240_000);

  afterAll(async () => {
    await lab?.close();
  }, 60_000);

  it.each(SPEC_FAULTS)('%s: the fault happens, and every invariant holds once settled', (fault) => {
    const trial = results.get(fault);
    expect(trial).toBeDefined();
    if (!trial) return;
    expect({ injected: trial.injected, problems: trial.problems }).toEqual({ injected: true, problems: [] });
    if (FAULTS[fault].kill) expect(trial.victimExit).toBe('killed by SIGKILL');
    expect(trial.dispenses).toBeGreaterThan(0);
    expect(trial.failedRequests).toBe(0);
    expect(trial.settleMs).toBeDefined();
    expect(trial.findings).toEqual([]);
    expect({ lost: trial.lost, duplicated: trial.duplicated, leftInDoubt: trial.leftInDoubt }).toEqual({
      lost: 0,
      duplicated: 0,
      leftInDoubt: 0,
    });
  });

  it('really exercised the consumers and the purchase orders', () => {
    const duplicates = results.get('duplicates');
    expect(duplicates?.duplicatesInjected).toBeGreaterThan(0);
    // Every injected copy reached a consumer, whose inbox recognised it.
    expect(duplicates?.duplicatesAbsorbed).toBeGreaterThanOrEqual(duplicates?.duplicatesInjected ?? 1);
    // The relay died with half a batch confirmed and the consumer with a batch committed but not acked:
    // the broker delivered those again, and the inboxes recognised them.
    expect(results.get('relay-kill-mid-batch')?.duplicatesAbsorbed).toBeGreaterThan(0);
    expect(results.get('consumer-kill')?.duplicatesAbsorbed).toBeGreaterThan(0);
    // The producer died placing a purchase order; the order still went out exactly once.
    expect(results.get('producer-kill-after-local-commit')?.purchaseOrders).toBeGreaterThan(0);
  });

  it('holds the invariants over the whole run', async () => {
    if (!lab) throw new Error('the lab did not open');
    const final = await lab.evaluate();
    expect(final.findings).toEqual([]);
    expect(final.inDoubt).toBe(0);
    expect(final.purchaseOrders).toBeGreaterThan(0);
    expect(final.deliveries).toBe(final.purchaseOrders);
  });

  // The checks above would pass vacuously if they could not see a broken state: plant some and look.
  it('catches a lost dispense, a dispense applied twice and a purchase order left prepared', async () => {
    const current = lab;
    if (!current) throw new Error('the lab did not open');
    const [lostId, doubledId] = (
      await current.rows<{ reference_id: string }>(
        'pharmacy-inventory',
        // Two drug@locations, so the two plants cannot cancel out in the ledger.
        `SELECT DISTINCT ON (medication_code, location_id) reference_id FROM inventory_movement
        WHERE kind = 'dispense' ORDER BY medication_code, location_id, applied_at LIMIT 2`,
      )
    ).map((r) => r.reference_id);
    await current.sql('pharmacy-inventory', 'DELETE FROM inventory_movement WHERE reference_id = $1', [
      lostId,
    ]);
    await current.sql(
      'pharmacy-inventory',
      `INSERT INTO inventory_movement (message_id, kind, medication_code, location_id, quantity, reference_id, on_hand_after)
       SELECT 'planted-' || message_id, kind, medication_code, location_id, quantity, reference_id, on_hand_after
         FROM inventory_movement WHERE reference_id = $1`,
      [doubledId],
    );
    await current.sql(
      'pharmacy-messages',
      `INSERT INTO tx_message (gtid, message_id, producer, check_back_url, exchange, routing_key, type, aggregate_id,
                               payload, state, next_check_at)
       VALUES ('planted-gtid', 'planted-gtid', 'nobody', 'http://127.0.0.1:9', 'x', 'x', 'x', 'x', '{}', 'prepared',
               now() + interval '1 hour')`,
    );
    const { findings } = await current.evaluate();
    expect(findings).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ kind: 'lost', key: `dispense:${lostId}` }),
        expect.objectContaining({ kind: 'duplicated', key: `dispense:${doubledId}` }),
        expect.objectContaining({ kind: 'in-doubt', key: 'message:planted-gtid' }),
        expect.objectContaining({ kind: 'violation', key: expect.stringMatching(/^ledger:|^stock:/) }),
      ]),
    );
  });
});
