import { execFileSync } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer as createHttpServer, IncomingMessage, Server, ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { AddressInfo, createServer as createNetServer, Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { callPeer, PeerCallError, PeerPools } from './http-json';

type Handler = (req: IncomingMessage, res: ServerResponse) => void;

/** A real peer on 127.0.0.1 that records the connections made to it. */
interface Peer {
  url: string;
  server: Server;
  connections: Socket[];
}

const peers: Peer[] = [];

async function listen(server: Server, scheme: 'http' | 'https'): Promise<Peer> {
  const peer: Peer = { url: '', server, connections: [] };
  server.on('connection', (socket: Socket) => peer.connections.push(socket));
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  peer.url = `${scheme}://127.0.0.1:${(server.address() as AddressInfo).port}`;
  peers.push(peer);
  return peer;
}

function httpPeer(handler: Handler): Promise<Peer> {
  return listen(createHttpServer(handler), 'http');
}

/** Reads a request's body as text. */
async function bodyOf(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

const CAP = 64 * 1024;
let pools: PeerPools;

beforeEach(() => {
  pools = new PeerPools({ maxResponseBytes: CAP });
});

afterEach(async () => {
  await pools.close();
  for (const peer of peers.splice(0)) {
    peer.server.closeAllConnections();
    peer.server.close();
  }
});

describe('callPeer', () => {
  it('sends the gtid, the caller headers and a JSON body; returns the parsed answer', async () => {
    const seen: { method?: string; url?: string; headers?: IncomingMessage['headers']; body?: string }[] = [];
    const peer = await httpPeer((req, res) => {
      void bodyOf(req).then((body) => {
        seen.push({ method: req.method, url: req.url, headers: req.headers, body });
        res.setHeader('content-type', 'application/json');
        res.end(JSON.stringify({ vote: 'yes' }));
      });
    });

    const answer = await callPeer(`${peer.url}/internal/2pc/g-1/prepare?x=1`, 'g-1', {
      body: { coordinator: 'emr', payload: { n: 1 } },
      timeoutMs: 2_000,
      headers: { authorization: 'Bearer t' },
      pools,
    });

    expect(answer).toEqual({ vote: 'yes' });
    expect(seen).toHaveLength(1);
    expect(seen[0]?.method).toBe('POST');
    expect(seen[0]?.url).toBe('/internal/2pc/g-1/prepare?x=1');
    expect(seen[0]?.headers).toMatchObject({
      'x-gtid': 'g-1',
      authorization: 'Bearer t',
      'content-type': 'application/json',
      accept: 'application/json',
    });
    expect(JSON.parse(seen[0]?.body ?? '')).toEqual({ coordinator: 'emr', payload: { n: 1 } });
  });

  it('GETs without a body, and an empty answer is undefined', async () => {
    let method: string | undefined;
    let contentType: string | undefined;
    let gtid: string | string[] | undefined;
    const peer = await httpPeer((req, res) => {
      method = req.method;
      contentType = req.headers['content-type'];
      gtid = req.headers['x-gtid'];
      res.statusCode = 204;
      res.end();
    });
    await expect(callPeer(`${peer.url}/x`, 'g', { method: 'GET', timeoutMs: 2_000, pools })).resolves.toBe(
      undefined,
    );
    expect(method).toBe('GET');
    expect(contentType).toBeUndefined();
    expect(gtid).toBe('g');
    // A look-up that belongs to no global transaction sends no gtid header at all.
    await callPeer(`${peer.url}/x`, undefined, { method: 'GET', timeoutMs: 2_000, pools });
    expect(gtid).toBeUndefined();
  });

  it('refuses a non-2xx answer with a PeerCallError carrying its status', async () => {
    const peer = await httpPeer((_req, res) => {
      res.statusCode = 409;
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ vote: 'yes' }));
    });
    const call = callPeer(`${peer.url}/internal/2pc/batch`, 'g', { body: {}, timeoutMs: 2_000, pools });
    await expect(call).rejects.toBeInstanceOf(PeerCallError);
    await expect(call).rejects.toMatchObject({ status: 409, message: '/internal/2pc/batch answered 409' });
  });

  it('refuses malformed JSON', async () => {
    const peer = await httpPeer((_req, res) => res.end('{"vote": "yes"'));
    await expect(callPeer(`${peer.url}/p`, 'g', { body: {}, timeoutMs: 2_000, pools })).rejects.toMatchObject(
      {
        status: 200,
        message: '/p answered with malformed JSON',
      },
    );
  });

  it('refuses an answer over the size cap as it streams in, without reading it all', async () => {
    const total = 64 * 1024 * 1024;
    let written = 0;
    let closed!: Promise<unknown>;
    const peer = await httpPeer((_req, res) => {
      closed = once(res, 'close');
      const chunk = Buffer.alloc(16 * 1024, 'a');
      // Chunked, no declared length: the cap must hold on the bytes that arrive.
      const pump = (): void => {
        while (written < total && !res.destroyed) {
          written += chunk.length;
          if (!res.write(chunk)) {
            res.once('drain', pump);
            return;
          }
        }
        if (!res.destroyed) res.end();
      };
      pump();
    });

    const call = callPeer(`${peer.url}/big`, 'g', { body: {}, timeoutMs: 5_000, pools });
    await expect(call).rejects.toBeInstanceOf(PeerCallError);
    await expect(call).rejects.toThrow(`/big answered with more than ${CAP} bytes`);
    await closed;
    expect(written).toBeLessThan(total);
  });

  it('refuses a declared length over the cap before its body arrives', async () => {
    const peer = await httpPeer((_req, res) => {
      res.setHeader('content-length', String(CAP + 1));
      // Headers and a first piece only: a client waiting for the rest would time out instead.
      res.write('{"results":[');
    });
    const started = Date.now();
    await expect(callPeer(`${peer.url}/big`, 'g', { body: {}, timeoutMs: 5_000, pools })).rejects.toThrow(
      `/big answered with more than ${CAP} bytes`,
    );
    expect(Date.now() - started).toBeLessThan(2_000);
  });

  it('a cap set on the call overrides the pools default', async () => {
    const peer = await httpPeer((_req, res) => res.end(JSON.stringify({ ok: 'x'.repeat(200) })));
    await expect(
      callPeer(`${peer.url}/p`, 'g', { body: {}, timeoutMs: 2_000, pools, maxResponseBytes: 100 }),
    ).rejects.toThrow('/p answered with more than 100 bytes');
    await expect(callPeer(`${peer.url}/p`, 'g', { body: {}, timeoutMs: 2_000, pools })).resolves.toEqual({
      ok: 'x'.repeat(200),
    });
  });

  // undici checks these time-outs on a shared timer that ticks every half second: a call fails after its
  // time-out and less than a second later, with no timer of its own.
  it('times out on a peer that never answers, within the time-out and its tick', async () => {
    const peer = await httpPeer(() => undefined);
    const started = Date.now();
    const call = callPeer(`${peer.url}/internal/2pc/batch`, 'g', { body: {}, timeoutMs: 1_000, pools });
    await expect(call).rejects.toBeInstanceOf(PeerCallError);
    await expect(call).rejects.toThrow('/internal/2pc/batch did not answer within 1000 ms');
    const elapsed = Date.now() - started;
    expect(elapsed).toBeGreaterThanOrEqual(950);
    expect(elapsed).toBeLessThan(2_000);
  });

  it('times out on a body that stops arriving', async () => {
    const peer = await httpPeer((_req, res) => {
      res.setHeader('content-length', '100');
      res.write('{"vote":');
    });
    const started = Date.now();
    await expect(callPeer(`${peer.url}/p`, 'g', { body: {}, timeoutMs: 1_000, pools })).rejects.toThrow(
      '/p did not answer within 1000 ms',
    );
    const elapsed = Date.now() - started;
    expect(elapsed).toBeGreaterThanOrEqual(950);
    expect(elapsed).toBeLessThan(2_000);
  });

  it('fails with a PeerCallError when the peer closes the connection mid-body', async () => {
    const peer = await httpPeer((req, res) => {
      res.setHeader('content-length', '100');
      res.write('{"vote":', () => req.socket.destroy());
    });
    const call = callPeer(`${peer.url}/p`, 'g', { body: {}, timeoutMs: 5_000, pools });
    await expect(call).rejects.toBeInstanceOf(PeerCallError);
    await expect(call).rejects.toThrow(/^\/p failed: /);
  });

  it('fails with a PeerCallError when nothing listens', async () => {
    const peer = await httpPeer(() => undefined);
    const url = peer.url;
    peer.server.close();
    await once(peer.server, 'close');
    await expect(callPeer(`${url}/p`, 'g', { body: {}, timeoutMs: 2_000, pools })).rejects.toThrow(
      /^\/p failed: .*ECONNREFUSED/,
    );
  });

  it('reuses one connection for successive calls to a peer, and closes it with the pools', async () => {
    const peer = await httpPeer((_req, res) => res.end(JSON.stringify({ ack: 'committed' })));
    for (let i = 0; i < 5; i++) {
      await expect(
        callPeer(`${peer.url}/internal/2pc/batch`, `g-${i}`, { body: {}, timeoutMs: 2_000, pools }),
      ).resolves.toEqual({ ack: 'committed' });
    }
    expect(peer.connections).toHaveLength(1);

    const socket = peer.connections[0];
    const ended = once(socket, 'close');
    await pools.close();
    await ended;
    // A call after close opens a new pool: a process running several services keeps calling.
    await expect(callPeer(`${peer.url}/x`, 'g', { body: {}, timeoutMs: 2_000, pools })).resolves.toEqual({
      ack: 'committed',
    });
    expect(peer.connections).toHaveLength(2);
  });

  it('keeps a pool per origin', async () => {
    const a = await httpPeer((_req, res) => res.end('"a"'));
    const b = await httpPeer((_req, res) => res.end('"b"'));
    const call = (url: string) => callPeer(`${url}/p`, 'g', { body: {}, timeoutMs: 2_000, pools });
    expect([await call(a.url), await call(b.url), await call(a.url), await call(b.url)]).toEqual([
      'a',
      'b',
      'a',
      'b',
    ]);
    expect([a.connections.length, b.connections.length]).toEqual([1, 1]);
  });
});

describe('callPeer over https', () => {
  let dir: string;
  let cert: Buffer;
  let key: Buffer;

  beforeAll(() => {
    // A certificate made for this run, trusted by the pools under test only.
    dir = mkdtempSync(join(tmpdir(), 'peer-tls-'));
    execFileSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'ec',
        '-pkeyopt',
        'ec_paramgen_curve:prime256v1',
        '-nodes',
        '-keyout',
        join(dir, 'key.pem'),
        '-out',
        join(dir, 'cert.pem'),
        '-days',
        '1',
        '-subj',
        '/CN=127.0.0.1',
        '-addext',
        'subjectAltName=IP:127.0.0.1,DNS:localhost',
      ],
      { stdio: 'ignore' },
    );
    cert = readFileSync(join(dir, 'cert.pem'));
    key = readFileSync(join(dir, 'key.pem'));
  });

  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  async function httpsPeer(handler: Handler): Promise<Peer> {
    return listen(createHttpsServer({ cert, key }, handler), 'https');
  }

  it('gives up on a peer that takes the connection but never completes its handshake', async () => {
    // A TCP listener that never speaks TLS: the connection is made, the handshake never ends.
    const silent = createNetServer(() => undefined);
    silent.listen(0, '127.0.0.1');
    await once(silent, 'listening');
    const port = (silent.address() as AddressInfo).port;
    const quick = new PeerPools({ ca: cert, connectTimeoutMs: 300 });
    const started = Date.now();
    try {
      await expect(
        callPeer(`https://127.0.0.1:${port}/p`, 'g', { body: {}, timeoutMs: 10_000, pools: quick }),
      ).rejects.toThrow('/p: no connection to the peer in time');
      expect(Date.now() - started).toBeLessThan(2_000);
    } finally {
      await quick.close();
      silent.close();
    }
  });

  it('calls an https peer whose certificate the pools trust, on one connection', async () => {
    const peer = await httpsPeer((req, res) => {
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ decision: 'commit', gtid: req.headers['x-gtid'] }));
    });
    const tls = new PeerPools({ ca: cert });
    try {
      for (let i = 0; i < 3; i++) {
        await expect(
          callPeer(`${peer.url}/internal/2pc/g/outcome`, 'g', { body: {}, timeoutMs: 2_000, pools: tls }),
        ).resolves.toEqual({ decision: 'commit', gtid: 'g' });
      }
      expect(peer.connections).toHaveLength(1);
    } finally {
      await tls.close();
    }
  });

  it('refuses an https peer whose certificate is not trusted', async () => {
    const peer = await httpsPeer((_req, res) => res.end('{}'));
    await expect(callPeer(`${peer.url}/p`, 'g', { body: {}, timeoutMs: 2_000, pools })).rejects.toThrow(
      /^\/p failed: .*self[- ]signed/i,
    );
  });
});
