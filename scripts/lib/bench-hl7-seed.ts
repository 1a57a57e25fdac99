// The laboratory orders the `hl7` bench's results answer, placed before the clock runs: straight into the
// LIS through its two-phase-commit participant endpoint as the EMR's record update does (prepare, then
// commit, signed as the EMR), a patient with ten orders per update. The LIS sends each new order to the
// analyzer as OML^O21; the bench's order sink stands in for the analyzer's order port (it acknowledges AA
// and sends no result), and seeding waits until every order has reached it, so no order traffic runs
// while results are timed.
import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { Hl7Connection, Hl7MessageEvent, Hl7Server } from '@medplum/hl7';
import { ORDER_CATEGORY } from '@hospital/fhir';
import { HttpParticipantClient, newGtid } from '@hospital/transactions';
import { runServiceCredentials } from '../services';
import { type BenchPanel, panelOf } from './bench-hl7-messages';

/** A seeded order: the LIS's ServiceRequest id and the panel it asks for. */
export interface SeededOrder {
  id: string;
  panel: BenchPanel;
}

/** Orders per record update (one patient's laboratory orders of a stay). */
const ORDERS_PER_UPDATE = 10;
/** Record updates in flight while seeding. */
const SEEDERS = 8;

/** The analyzer's order port during a bench: acknowledges every OML^O21 with AA and counts the orders. */
export class OrderSink {
  private server?: Hl7Server;
  private readonly placers = new Set<string>();

  /** Distinct orders received (by placer order number). */
  get received(): number {
    return this.placers.size;
  }

  async start(port: number): Promise<void> {
    const server = new Hl7Server((connection: Hl7Connection) => {
      connection.addEventListener('error', () => undefined);
      connection.addEventListener('message', (event: Hl7MessageEvent) => {
        const placer = event.message.getSegment('OBR')?.getField(2)?.getComponent(1);
        if (placer) this.placers.add(placer);
        connection.send(event.message.buildAck({ ackCode: 'AA' }));
      });
    });
    server.start(port);
    this.server = server;
    if (server.server && !server.server.listening) await once(server.server, 'listening');
    if ((server.server?.address() as AddressInfo | null)?.port !== port)
      throw new Error(`the order sink could not listen on ${port}`);
  }

  async stop(): Promise<void> {
    await this.server?.stop({ forceDrainTimeoutMs: 0 }).catch(() => undefined);
    this.server = undefined;
  }
}

/** Places laboratory orders in the LIS the way the EMR's record update does. */
export class OrderSeeder {
  private readonly emr: HttpParticipantClient;
  private placed = 0;

  constructor(lisUrl: string) {
    this.emr = new HttpParticipantClient('lis', lisUrl, 'emr', runServiceCredentials('emr'));
  }

  /** Places `count` more orders (rounded up to whole updates) and returns them. */
  async seed(count: number): Promise<SeededOrder[]> {
    const orders: SeededOrder[] = [];
    let updates = Math.ceil(count / ORDERS_PER_UPDATE);
    const seeder = async (): Promise<void> => {
      while (updates > 0) {
        updates -= 1;
        orders.push(...(await this.recordUpdate()));
      }
    };
    await Promise.all(Array.from({ length: SEEDERS }, seeder));
    return orders;
  }

  private async recordUpdate(): Promise<SeededOrder[]> {
    const patientId = randomUUID();
    const orders = Array.from({ length: ORDERS_PER_UPDATE }, () => {
      this.placed += 1;
      return { id: randomUUID(), panel: panelOf(this.placed) };
    });
    const payload = {
      patient: {
        resourceType: 'Patient',
        id: patientId,
        identifier: [
          { system: 'urn:oid:1.2.36.146.595.217.0.1', value: `HL7BENCH-${patientId.slice(0, 8)}` },
        ],
        name: [{ family: 'Synthetic', given: ['Bench'] }],
        gender: this.placed % 2 === 0 ? 'female' : 'male',
        birthDate: '1960-05-17',
      },
      serviceRequests: orders.map((order) => ({
        resourceType: 'ServiceRequest',
        id: order.id,
        status: 'active',
        intent: 'order',
        category: [{ coding: [ORDER_CATEGORY.laboratory] }],
        code: { coding: [{ system: 'http://loinc.org', code: order.panel.code, display: order.panel.name }] },
        subject: { reference: `Patient/${patientId}` },
      })),
    };
    const gtid = newGtid();
    const vote = await this.emr.prepare(gtid, 'emr', payload);
    if (vote.vote !== 'yes') throw new Error(`the LIS voted ${vote.vote} on a seeding update`);
    await this.emr.commit(gtid);
    return orders;
  }
}

/** Waits until the sink holds `count` distinct orders; fails after `timeoutMs`. */
export async function ordersDelivered(sink: OrderSink, count: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (sink.received < count) {
    if (Date.now() > deadline)
      throw new Error(`only ${sink.received} of ${count} orders reached the analyzer in ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
