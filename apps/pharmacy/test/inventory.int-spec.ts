import { randomBytes, randomUUID } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import type { DynamicModule, INestApplication } from '@nestjs/common';
import { FhirExceptionFilter } from '@hospital/fhir';
import { createServiceApp, Database, type ServiceConfig } from '@hospital/platform';
import { createTestDatabase } from '@hospital/platform/testing/test-database';
import {
  type InboundMessage,
  InboxConsumer,
  Outbox,
  PostgresInbox,
  PostgresOutbox,
  RabbitMqConnection,
} from '@hospital/transactions';
import type { Session } from '@hospital/platform';
import { PharmacyEvent, stockAggregate } from '../src/contracts/pharmacy-events';
import { dispensingConfig, inventoryConfig } from '../src/config';
import { migrations as dispensingMigrations } from '../src/dispensing/database/migrations';
import { seedFormulary } from '../src/dispensing/database/seeds/formulary';
import { DispensingModule } from '../src/dispensing/dispensing.module';
import { RXNORM_SYSTEM } from '../src/dispensing/fhir-resources';
import { migrations } from '../src/inventory/database/migrations';
import { seedInventory, stockSeedLines } from '../src/inventory/database/seeds/stock';
import { InventoryModule } from '../src/inventory/inventory.module';
import { DispenseAppliedHandler, DISPENSES_QUEUE } from '../src/inventory/messages/dispense-applied.handler';
import { DELIVERIES_QUEUE, StockDeliveredHandler } from '../src/inventory/messages/stock-delivered.handler';
import { stockInvariantViolations } from '../src/inventory/stock/stock-invariant';
import { StockRepository } from '../src/inventory/stock/stock.repository';
import { StockService } from '../src/inventory/stock/stock.service';
import { eventually } from '@hospital/platform/testing/waiting';
import { testAuthorizationFor } from '@hospital/platform/testing/access-token';

/**
 * The inventory part on a fresh database: each movement is applied in the inbox's transaction exactly once,
 * a reorder opens once (with its StockLow in the outbox) and a delivery closes it, the ledger accounts for
 * every unit; the stock API over HTTP; drug capacity reserved at /api/capacity; and a dispense over HTTP
 * reaching the stock through RabbitMQ.
 */
jest.setTimeout(30_000);

async function listen(app: INestApplication): Promise<string> {
  await app.listen(0, '127.0.0.1');
  return `http://127.0.0.1:${(app.getHttpServer() as { address(): AddressInfo }).address().port}`;
}

async function getJson(url: string): Promise<{ status: number; body: Record<string, unknown> & unknown[] }> {
  const response = await fetch(url, { headers: { authorization: testAuthorizationFor(url) } });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> & unknown[] };
}

let seq = 0;
function message(type: string, payload: unknown, id = randomUUID()): InboundMessage {
  seq += 1;
  return { id, type, gtid: `inv-test-${seq}`, payload, deliveryCount: 0, replayed: false };
}

const dispensed = (medicationCode: string, locationId: string, quantity: number) =>
  message(PharmacyEvent.MedicationDispensed.type, {
    dispenseId: randomUUID(),
    medicationCode,
    locationId,
    quantity,
    dispensedAt: new Date().toISOString(),
  });

describe('pharmacy inventory', () => {
  const namespace = `test-${randomBytes(4).toString('hex')}`;
  const drops: (() => Promise<void>)[] = [];
  let db: Database;
  let outboxStore: PostgresOutbox;
  let dispenses: InboxConsumer<Session>;
  let deliveries: InboxConsumer<Session>;

  const line = async (code: string, location: string) =>
    (
      await db.query<{ on_hand: number; open_reorder_id: string | null }>(
        'SELECT on_hand, open_reorder_id FROM inventory_stock WHERE medication_code = $1 AND location_id = $2',
        [code, location],
      )
    )[0];
  const count = async (sql: string, parameters: unknown[] = []) =>
    (await db.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${sql}`, parameters))[0].n;

  beforeAll(async () => {
    const created = await createTestDatabase('pharmacy-inventory', migrations);
    drops.push(created.drop);
    db = new Database(created.settings, 'pharmacy-inventory-test');
    const seeded = await seedInventory(db);
    expect(seeded.inserted).toBe(stockSeedLines().length);
    expect((await seedInventory(db)).inserted).toBe(0); // idempotent
    outboxStore = new PostgresOutbox(db, 'pharmacy-inventory');
    const stock = new StockService(new StockRepository(db), new Outbox(outboxStore));
    const inbox = new PostgresInbox();
    dispenses = new InboxConsumer(db, inbox, new DispenseAppliedHandler(stock), {
      name: DISPENSES_QUEUE,
      maxAttempts: 3,
    });
    deliveries = new InboxConsumer(db, inbox, new StockDeliveredHandler(stock), {
      name: DELIVERIES_QUEUE,
      maxAttempts: 3,
    });
  }, 60_000);

  afterAll(async () => {
    await outboxStore?.close();
    await db?.close();
    for (const drop of drops) await drop();
  });

  it('applies a dispense once: stock, ledger row and inbox row in one transaction', async () => {
    const before = await line('197361', 'main-pharmacy');
    const m = dispensed('197361', 'main-pharmacy', 7);
    expect(await dispenses.process([m])).toEqual([{ kind: 'applied' }]);
    expect(await dispenses.process([m])).toEqual([{ kind: 'duplicate' }]);
    expect(await dispenses.process([m, m])).toEqual([{ kind: 'duplicate' }, { kind: 'duplicate' }]);
    expect((await line('197361', 'main-pharmacy')).on_hand).toBe(before.on_hand - 7);
    expect(await count('inventory_movement WHERE message_id = $1', [m.id])).toBe(1);
    expect(await count('tx_inbox WHERE message_id = $1', [m.id])).toBe(1);
  });

  it('applies a batch of dispenses in one statement, with the on-hand after each in its ledger row', async () => {
    const before = await line('314076', 'main-pharmacy');
    const batch = [
      dispensed('314076', 'main-pharmacy', 2),
      dispensed('313782', 'main-pharmacy', 5),
      dispensed('314076', 'main-pharmacy', 3),
    ];
    expect(await dispenses.process(batch)).toEqual(batch.map(() => ({ kind: 'applied' })));
    expect((await line('314076', 'main-pharmacy')).on_hand).toBe(before.on_hand - 5);
    const after = await db.query<{ message_id: string; on_hand_after: number }>(
      'SELECT message_id, on_hand_after FROM inventory_movement WHERE message_id = ANY($1)',
      [[batch[0].id, batch[2].id]],
    );
    const onHandAfter = new Map(after.map((r) => [r.message_id, r.on_hand_after]));
    expect(onHandAfter.get(batch[0].id)).toBe(before.on_hand - 2);
    expect(onHandAfter.get(batch[2].id)).toBe(before.on_hand - 5);
    // One bad message in a batch: the others are applied alone, the bad one is dead-lettered.
    const mixed = [dispensed('314076', 'main-pharmacy', 1), dispensed('314076', 'ward-9z', 1)];
    expect((await dispenses.process(mixed)).map((d) => d.kind)).toEqual(['applied', 'dead-letter']);
    expect((await line('314076', 'main-pharmacy')).on_hand).toBe(before.on_hand - 6);
  });

  it('records a dispense that takes stock below zero (the units already left the shelf)', async () => {
    const m = dispensed('243670', 'icu', 450);
    expect(await dispenses.process([m])).toEqual([{ kind: 'applied' }]);
    expect((await line('243670', 'icu')).on_hand).toBe(-50);
  });

  it('dead-letters a dispense for a drug the location does not stock, and an invalid payload; nothing changes', async () => {
    const unknown = dispensed('197361', 'ward-9z', 1);
    const negative = dispensed('197361', 'main-pharmacy', -3);
    const before = await count('inventory_movement');
    const stockBefore = await line('197361', 'main-pharmacy');
    const [first, second] = await dispenses.process([unknown, negative]);
    expect(first).toEqual({
      kind: 'dead-letter',
      reason: 'stock-not-found: medication 197361 is not stocked at ward-9z',
    });
    expect(second).toMatchObject({ kind: 'dead-letter', reason: expect.stringContaining('quantity') });
    expect(await count('inventory_movement')).toBe(before);
    expect(await line('197361', 'main-pharmacy')).toEqual(stockBefore);
    expect(
      await count(`tx_inbox WHERE outcome = 'dead-lettered' AND message_id = ANY($1)`, [
        [unknown.id, negative.id],
      ]),
    ).toBe(2);
  });

  it('opens one reorder when stock falls to the reorder point, with its StockLow in the outbox', async () => {
    // ward-3a keeps 400 units of lisinopril with the reorder point at 100.
    const batch = [dispensed('314076', 'ward-3a', 200), dispensed('314076', 'ward-3a', 100)];
    expect(await dispenses.process(batch)).toEqual([{ kind: 'applied' }, { kind: 'applied' }]);
    const after = await line('314076', 'ward-3a');
    expect(after.on_hand).toBe(100);
    expect(after.open_reorder_id).not.toBeNull();
    expect(await dispenses.process([dispensed('314076', 'ward-3a', 30)])).toEqual([{ kind: 'applied' }]);
    expect(
      await count(`inventory_reorder WHERE medication_code = '314076' AND location_id = 'ward-3a'`),
    ).toBe(1);

    const events = await db.query<{ type: string; aggregate_id: string; payload: Record<string, unknown> }>(
      `SELECT type, aggregate_id, payload FROM tx_outbox WHERE aggregate_id = $1`,
      [stockAggregate('314076', 'ward-3a')],
    );
    expect(events).toEqual([
      {
        type: PharmacyEvent.StockLow.type,
        aggregate_id: '314076@ward-3a',
        payload: {
          reorderId: after.open_reorder_id,
          medicationCode: '314076',
          locationId: 'ward-3a',
          onHand: 100,
          reorderPoint: 100,
          reorderQuantity: 300,
        },
      },
    ]);
  });

  it('a delivery books the units in and closes its reorder; a redelivery changes nothing', async () => {
    const { open_reorder_id: reorderId, on_hand: before } = await line('314076', 'ward-3a');
    const delivery = message(PharmacyEvent.StockDelivered.type, {
      deliveryId: 'del-1',
      purchaseOrderId: 'po-1',
      reorderId,
      medicationCode: '314076',
      locationId: 'ward-3a',
      quantity: 300,
    });
    expect(await deliveries.process([delivery])).toEqual([{ kind: 'applied' }]);
    expect(await deliveries.process([delivery])).toEqual([{ kind: 'duplicate' }]);
    expect(await line('314076', 'ward-3a')).toEqual({ on_hand: before + 300, open_reorder_id: null });
    const [reorder] = await db.query<{ status: string; delivery_id: string; delivered_quantity: number }>(
      'SELECT status, delivery_id, delivered_quantity FROM inventory_reorder WHERE reorder_id = $1',
      [reorderId],
    );
    expect(reorder).toEqual({ status: 'closed', delivery_id: 'del-1', delivered_quantity: 300 });
    // The next fall to the point opens a new reorder.
    await dispenses.process([dispensed('314076', 'ward-3a', before + 300 - 100)]);
    expect(
      await count(`inventory_reorder WHERE medication_code = '314076' AND location_id = 'ward-3a'`),
    ).toBe(2);
    expect(await count(`inventory_reorder WHERE status = 'open' AND location_id = 'ward-3a'`)).toBe(1);
  });

  it('keeps on-hand = initial − dispensed + delivered for every line', async () => {
    expect(await stockInvariantViolations(db)).toEqual([]);
    await db.query(
      `UPDATE inventory_stock SET on_hand = on_hand + 1 WHERE location_id = 'icu' AND medication_code = '243670'`,
    );
    expect(await stockInvariantViolations(db)).toEqual([
      { medication_code: '243670', location_id: 'icu', on_hand: -49, expected: -50 },
    ]);
    await db.query(
      `UPDATE inventory_stock SET on_hand = on_hand - 1 WHERE location_id = 'icu' AND medication_code = '243670'`,
    );
  });

  describe('over HTTP and RabbitMQ', () => {
    let inventory: INestApplication;
    let dispensing: INestApplication;
    let inventoryUrl: string;
    let dispensingUrl: string;

    const start = async (root: DynamicModule, config: ServiceConfig) => {
      const app = await createServiceApp(root, config, { filters: [new FhirExceptionFilter()] });
      return { app, url: await listen(app) };
    };

    beforeAll(async () => {
      const env = {
        ...process.env,
        LOG_LEVEL: 'error',
        MESSAGING_NAMESPACE: namespace,
        OUTBOX_POLL_MS: '100',
      };
      const inventoryConfigured = inventoryConfig({ ...env, PGDATABASE: db.settings.database });
      ({ app: inventory, url: inventoryUrl } = await start(
        InventoryModule.forRoot(inventoryConfigured),
        inventoryConfigured,
      ));
      const pharmacyDb = await createTestDatabase('pharmacy', dispensingMigrations);
      drops.push(pharmacyDb.drop);
      const seedDb = new Database(pharmacyDb.settings, 'pharmacy-seed');
      await seedFormulary(seedDb);
      await seedDb.close();
      const dispensingConfigured = dispensingConfig({ ...env, PGDATABASE: pharmacyDb.settings.database });
      ({ app: dispensing, url: dispensingUrl } = await start(
        DispensingModule.forRoot(dispensingConfigured),
        dispensingConfigured,
      ));
    }, 60_000);

    afterAll(async () => {
      await dispensing?.close();
      await inventory?.close();
      const connection = new RabbitMqConnection(
        process.env.AMQP_URL ?? 'amqp://guest:guest@127.0.0.1:5672',
        'inventory-test',
        namespace,
      );
      await connection
        .withChannel(async (channel) => {
          for (const queue of [DISPENSES_QUEUE, DELIVERIES_QUEUE]) {
            await channel.deleteQueue(`${namespace}.${queue}`);
            await channel.deleteQueue(`${namespace}.${queue}.dead-letter`);
          }
          await channel.deleteExchange(`${namespace}.pharmacy.events`);
        })
        .catch(() => undefined);
      await connection.close();
    });

    it('lists stock by location and medication, with 404 and 400 as problem documents', async () => {
      const ward = await getJson(`${inventoryUrl}/api/inventory?location=ward-3a&limit=3`);
      expect(ward.status).toBe(200);
      expect((ward.body.items as { locationId: string }[]).map((l) => l.locationId)).toEqual([
        'ward-3a',
        'ward-3a',
        'ward-3a',
      ]);
      const lisinopril = await getJson(`${inventoryUrl}/api/inventory/314076`);
      expect(lisinopril.status).toBe(200);
      expect(lisinopril.body.map((l) => (l as { locationId: string }).locationId)).toEqual([
        'icu',
        'main-pharmacy',
        'ward-3a',
      ]);
      expect((lisinopril.body[2] as { openReorder: unknown }).openReorder).toMatchObject({ quantity: 300 });
      const missing = await getJson(`${inventoryUrl}/api/inventory/999999?location=ward-3a`);
      expect(missing.status).toBe(404);
      expect(missing.body).toEqual({
        type: 'urn:hospital:problem:inventory:stock-not-found',
        title: 'Not Found',
        status: 404,
        detail: 'medication 999999 is not stocked at ward-3a',
        code: 'stock-not-found',
      });
      const invalid = await getJson(`${inventoryUrl}/api/inventory?location=Ward%203A`);
      expect(invalid.status).toBe(400);
      expect(invalid.body).toMatchObject({ type: 'about:blank', title: 'Bad Request', status: 400 });
      expect((await getJson(`${inventoryUrl}/api/inventory?colour=blue`)).status).toBe(400);
    });

    it('offers drug stock per location as reservable capacity at /api/capacity, and only drugs', async () => {
      const send = async (method: string, path: string, body: unknown) => {
        const response = await fetch(`${inventoryUrl}/api/capacity${path}`, {
          method,
          headers: {
            'content-type': 'application/json',
            authorization: testAuthorizationFor('/api/capacity'),
          },
          body: JSON.stringify(body),
        });
        return { status: response.status, body: (await response.json()) as Record<string, unknown> };
      };
      expect(await send('PUT', '/resources/drug:197361@ward-3a', { capacity: 7 })).toMatchObject({
        status: 201,
        body: { resource: 'drug:197361@ward-3a', available: 7 },
      });
      const step = {
        key: 'g-regimen:pharmacy',
        gtid: 'g-regimen',
        resource: 'drug:197361@ward-3a',
        units: 5,
      };
      expect(await send('POST', '/saga/apply', step)).toMatchObject({
        status: 200,
        body: { state: 'applied' },
      });
      expect(await send('POST', '/saga/apply', { ...step, key: 'g-regimen-2:pharmacy' })).toMatchObject({
        status: 409,
        body: { code: 'insufficient-capacity' },
      });
      expect(
        await send('POST', '/saga/apply', {
          ...step,
          key: 'g-regimen-3:pharmacy',
          resource: 'drug:197361@icu',
        }),
      ).toMatchObject({
        status: 404,
        body: { code: 'unknown-resource' },
      });
      for (const resource of ['imaging:CT:2026-12-07', 'drug:197361@Ward-3A', 'drug:197361'])
        expect((await send('PUT', `/resources/${resource}`, { capacity: 1 })).status).toBe(400);
      expect(await count('tx_capacity')).toBe(1);
    });

    it('a dispense over HTTP reaches the stock through the outbox and RabbitMQ, once', async () => {
      const before = (await line('308182', 'ward-3a')).on_hand;
      const response = await fetch(`${dispensingUrl}/fhir/MedicationDispense`, {
        method: 'POST',
        headers: { 'content-type': 'application/fhir+json', authorization: testAuthorizationFor('/fhir') },
        body: JSON.stringify({
          resourceType: 'MedicationDispense',
          status: 'completed',
          medicationCodeableConcept: { coding: [{ system: RXNORM_SYSTEM, code: '308182' }] },
          location: { reference: 'Location/ward-3a' },
          quantity: { value: 12 },
        }),
      });
      expect(response.status).toBe(201);
      const { id } = (await response.json()) as { id: string };
      const after = await eventually(
        () => line('308182', 'ward-3a'),
        (l) => l.on_hand !== before,
      );
      expect(after.on_hand).toBe(before - 12);
      expect(await count(`inventory_movement WHERE reference_id = $1`, [id])).toBe(1);
      const api = await getJson(`${inventoryUrl}/api/inventory/308182?location=ward-3a`);
      expect((api.body[0] as { onHand: number }).onHand).toBe(before - 12);
      expect(await stockInvariantViolations(db)).toEqual([]);
    });
  });
});
