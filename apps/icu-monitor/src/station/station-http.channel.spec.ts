import { once } from 'node:events';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { freePort } from '@hospital/platform/testing/waiting';
import { closePeerPools, type Notification } from '@hospital/transactions';
import { icuMonitorConfig } from '../config';
import { StationHttpChannel } from './station-http.channel';

/**
 * The station channel against a loopback HTTP server answering what the spec says: each answer class
 * maps to delivered, retryable or permanent, and the request carries the key, the token and the payload.
 */
describe('StationHttpChannel', () => {
  let server: Server;
  let answer = 201;
  let seen: { url?: string; headers: IncomingHttpHeaders; body: string } | undefined;

  const notification: Notification = {
    id: 'n-1',
    idempotencyKey: 'flag-1:opened',
    receiver: 'monitoring-station',
    channel: 'station-http',
    type: 'news2.alert',
    gtid: 'g-1',
    payload: { alertId: 'flag-1', level: 'urgent' },
    createdAt: new Date(),
  };
  const channelTo = (url: string) =>
    new StationHttpChannel(
      icuMonitorConfig({ ...process.env, ICU_STATION_URL: url, NOTIFICATION_ATTEMPT_TIMEOUT_MS: '1000' }),
    );

  beforeAll(async () => {
    server = createServer((request, response) => {
      let body = '';
      request.on('data', (chunk: Buffer) => (body += chunk.toString()));
      request.on('end', () => {
        seen = { url: request.url, headers: request.headers, body };
        response.writeHead(answer, { 'content-type': 'application/json' }).end('{}');
      });
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
  });

  afterAll(async () => {
    await closePeerPools();
    server.close();
  });

  const url = () => `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  it('posts the payload to /internal/alerts with the idempotency key and a token for the station', async () => {
    answer = 201;
    expect(await channelTo(url()).deliver(notification)).toEqual({ kind: 'delivered' });
    expect(seen?.url).toBe('/internal/alerts');
    expect(seen?.headers['idempotency-key']).toBe('flag-1:opened');
    expect(seen?.headers.authorization).toMatch(/^Bearer /);
    expect(JSON.parse(seen?.body ?? '')).toEqual(notification.payload);
  });

  it.each([
    [200, 'delivered'],
    [503, 'retryable'],
    [500, 'retryable'],
    [429, 'retryable'],
    [400, 'permanent'],
    [401, 'permanent'],
    [409, 'permanent'],
  ])('answers HTTP %i as %s', async (status, kind) => {
    answer = status;
    expect((await channelTo(url()).deliver(notification)).kind).toBe(kind);
  });

  it('retries when nothing listens', async () => {
    const closed = `http://127.0.0.1:${await freePort()}`;
    expect(await channelTo(closed).deliver(notification)).toMatchObject({ kind: 'retryable' });
  });
});
