// A simulated SMS or push gateway: the receiver of the appointments service's SMS and push confirmations
// in its integration spec, the `appointments` bench and the demo (on ports 3062 and 3063, the service's
// default SMS_GATEWAY_URL and PUSH_GATEWAY_URL).
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/** A request the gateway took (2xx). */
export interface GatewayRequest {
  key: string;
  path: string;
  body: Record<string, unknown>;
  /** When the gateway took it (Date.now()). */
  receivedAt: number;
}

export interface GatewaySimOptions {
  /** The port to listen on; a free one when absent. */
  port?: number;
  /** The address to listen on (127.0.0.1 unless given). */
  host?: string;
  /** Called with every request accepted, repeats included. */
  onRequest?: (request: GatewayRequest, duplicate: boolean) => void;
}

/**
 * A simulated SMS or push gateway (`node:http` on a loopback port): records every POST it accepts, and
 * de-duplicates by `Idempotency-Key` as a real gateway would (a repeat is answered 200, not sent again).
 * `failing` makes it answer 503 (down for maintenance); a request without a key is a 400. A GET of its
 * path lists what it sent on (one per key), for a person looking at it.
 */
export class GatewaySim {
  /** Every accepted request, repeats included. */
  readonly received: GatewayRequest[] = [];
  /** One per key: what the gateway actually sent on. */
  readonly sent = new Map<string, GatewayRequest>();
  failing = false;
  private server?: Server;

  constructor(
    private readonly path: string,
    private readonly options: GatewaySimOptions = {},
  ) {}

  url = '';

  async start(): Promise<void> {
    const server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (chunk: Buffer) => chunks.push(chunk));
      req.on('end', () => {
        const answer = (status: number, body: unknown) => {
          res.writeHead(status, { 'content-type': 'application/json' });
          res.end(JSON.stringify(body));
        };
        if (req.method === 'GET' && req.url === this.path) {
          const sent = [...this.sent.values()].map((r) => ({ ...r, receivedAt: new Date(r.receivedAt) }));
          res.writeHead(200, { 'content-type': 'application/json' });
          return res.end(JSON.stringify(sent, null, 2));
        }
        if (this.failing) return answer(503, { error: 'unavailable' });
        const key = req.headers['idempotency-key'];
        if (req.method !== 'POST' || typeof key !== 'string') return answer(400, { error: 'bad request' });
        let body: Record<string, unknown>;
        try {
          body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, unknown>;
        } catch {
          return answer(400, { error: 'the body is not JSON' });
        }
        const request: GatewayRequest = { key, path: req.url ?? '', body, receivedAt: Date.now() };
        this.received.push(request);
        const duplicate = this.sent.has(key);
        if (!duplicate) this.sent.set(key, request);
        this.options.onRequest?.(request, duplicate);
        answer(duplicate ? 200 : 202, { id: key, duplicate });
      });
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.options.port ?? 0, this.options.host ?? '127.0.0.1', () => {
        server.off('error', reject);
        resolve();
      });
    });
    this.server = server;
    this.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}${this.path}`;
  }

  async stop(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (!server) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  /** Accepted requests (repeats included) whose key starts with `prefix`. */
  matching(prefix: string): GatewayRequest[] {
    return this.received.filter((request) => request.key.startsWith(prefix));
  }
}
