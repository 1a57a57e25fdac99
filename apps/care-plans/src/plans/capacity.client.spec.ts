import { once } from 'node:events';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { closePeerPools, PeerCallError } from '@hospital/transactions';
import { carePlansConfig } from '../config';
import { CapacityClient } from './capacity.client';
import { ParticipantRefusedError } from './plan-ports';

/**
 * The capacity client against a real HTTP participant on 127.0.0.1: which answers are refusals and which
 * transient, what a resource look-up makes of each answer and how long it trusts one, the bodies and the
 * gtid header each call sends.
 */

interface Seen {
  method: string;
  path: string;
  gtid: string | undefined;
  body: unknown;
}

let server: Server;
let base: string;
const seen: Seen[] = [];
/** The answer to the next requests: status and JSON body. */
let answer: { status: number; body?: unknown } = { status: 200, body: {} };

async function bodyOf(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  const text = Buffer.concat(chunks).toString('utf8');
  return text === '' ? undefined : (JSON.parse(text) as unknown);
}

beforeAll(async () => {
  server = createServer((req, res) => {
    void bodyOf(req).then((body) => {
      const gtid = req.headers['x-gtid'];
      seen.push({
        method: req.method ?? '',
        path: req.url ?? '',
        gtid: typeof gtid === 'string' ? gtid : undefined,
        body,
      });
      res.statusCode = answer.status;
      res.setHeader('content-type', 'application/json');
      res.end(answer.body === undefined ? '' : JSON.stringify(answer.body));
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  await closePeerPools();
  server.closeAllConnections();
  server.close();
});

beforeEach(() => {
  seen.length = 0;
  answer = { status: 200, body: {} };
});

function client(cacheMs = 30_000): CapacityClient {
  return new CapacityClient(
    carePlansConfig({
      SERVICE_KEY_SEED: 'x'.repeat(32),
      APPOINTMENTS_URL: `${base}/appointments`,
      PACS_URL: `${base}/pacs`,
      PHARMACY_INVENTORY_URL: `${base}/inventory`,
      CAPACITY_RESOURCE_CACHE_MS: String(cacheMs),
    }),
  );
}

describe('CapacityClient', () => {
  it('looks a resource up at its participant, trusts a known one for a while, never an unknown one', async () => {
    const capacity = client();
    answer = { status: 200, body: { resource: 'drug:1@w', capacity: 5 } };
    expect(await capacity.lookup('pharmacy', 'drug:1@w')).toBe('known');
    expect(await capacity.lookup('pharmacy', 'drug:1@w')).toBe('known');
    expect(seen.map((s) => [s.method, s.path, s.gtid])).toEqual([
      ['GET', '/inventory/api/capacity/resources/drug%3A1%40w', undefined],
    ]);
    answer = { status: 404, body: {} };
    expect(await capacity.lookup('pacs', 'imaging:CT:2026-12-07')).toBe('unknown');
    expect(await capacity.lookup('pacs', 'imaging:CT:2026-12-07')).toBe('unknown');
    answer = { status: 400, body: {} }; // an id of a kind the participant does not offer
    expect(await capacity.lookup('appointments', 'slot:x')).toBe('unknown');
    expect(seen).toHaveLength(4);
    answer = { status: 503 };
    await expect(capacity.lookup('appointments', 'slot:y')).rejects.toBeInstanceOf(PeerCallError);
    const uncached = client(0);
    answer = { status: 200, body: {} };
    await uncached.lookup('pharmacy', 'drug:1@w');
    await uncached.lookup('pharmacy', 'drug:1@w');
    expect(seen).toHaveLength(7);
  });

  it('answers a 4xx as the participant refusing, a 5xx, 408 or 429 as transient', async () => {
    const capacity = client();
    const apply = () =>
      capacity.sagaApply('appointments', { key: 'g:consults:0', gtid: 'g', resource: 'slot:s', units: 1 });
    for (const status of [409, 404, 400]) {
      answer = { status, body: { type: 'urn:hospital:problem:capacity:insufficient-capacity' } };
      await expect(apply()).rejects.toMatchObject({
        constructor: ParticipantRefusedError,
        status,
        participant: 'appointments',
      });
    }
    for (const status of [500, 503, 408, 429]) {
      answer = { status };
      const failure = await apply().catch((error: unknown) => error);
      expect(failure).toBeInstanceOf(PeerCallError);
      expect(failure).not.toBeInstanceOf(ParticipantRefusedError);
    }
    expect(seen[0]).toEqual({
      method: 'POST',
      path: '/appointments/api/capacity/saga/apply',
      gtid: 'g',
      body: { key: 'g:consults:0', gtid: 'g', resource: 'slot:s', units: 1 },
    });
  });

  it('sends each call of the contract to its route with its body and the gtid', async () => {
    const capacity = client();
    await capacity.sagaRelease('pacs', { key: 'g:imaging', gtid: 'g' });
    await capacity.tccTry('pharmacy', { gtid: 'g', branch: 'regimen', resource: 'drug:1@w', units: 3 });
    await capacity.tccConfirm('pharmacy', { gtid: 'g', branch: 'regimen' });
    await capacity.tccCancel('appointments', { gtid: 'g', branch: 'consults:1' });
    await capacity.quotaRelease('pacs', { key: 'g:imaging', gtid: 'g', resource: 'imaging:CT:2026-12-07' });
    await capacity.quotaHold('pacs', { key: 'g:imaging', gtid: 'g', resource: 'imaging:CT:2026-12-07' });
    expect(seen).toEqual([
      {
        method: 'POST',
        path: '/pacs/api/capacity/saga/release',
        gtid: 'g',
        body: { key: 'g:imaging', gtid: 'g' },
      },
      {
        method: 'POST',
        path: '/inventory/api/capacity/tcc/try',
        gtid: 'g',
        body: { gtid: 'g', branch: 'regimen', resource: 'drug:1@w', units: 3 },
      },
      {
        method: 'POST',
        path: '/inventory/api/capacity/tcc/confirm',
        gtid: 'g',
        body: { gtid: 'g', branch: 'regimen' },
      },
      {
        method: 'POST',
        path: '/appointments/api/capacity/tcc/cancel',
        gtid: 'g',
        body: { gtid: 'g', branch: 'consults:1' },
      },
      {
        method: 'POST',
        path: '/pacs/api/capacity/quota/release',
        gtid: 'g',
        body: { key: 'g:imaging', resource: 'imaging:CT:2026-12-07' },
      },
      {
        method: 'POST',
        path: '/pacs/api/capacity/quota/hold',
        gtid: 'g',
        body: { key: 'g:imaging', resource: 'imaging:CT:2026-12-07' },
      },
    ]);
  });

  it('takes a quota reservation with its epoch, and refuses an answer without one as a broken contract', async () => {
    const capacity = client();
    const request = { key: 'g:regimen', gtid: 'g', resource: 'drug:1@w', units: 4 };
    answer = { status: 200, body: { ...request, epoch: 'c0ffee', state: 'reserved' } };
    expect(await capacity.quotaReserve('pharmacy', request)).toEqual({
      key: 'g:regimen',
      resource: 'drug:1@w',
      units: 4,
      epoch: 'c0ffee',
    });
    answer = { status: 200, body: { ...request, state: 'reserved' } };
    await expect(capacity.quotaReserve('pharmacy', request)).rejects.toThrow(/without its epoch/);
  });
});
