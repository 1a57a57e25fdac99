// The receivers of the appointments service's confirmations, as the bench and the demo run them: an SMTP
// sink (`smtp-sink.ts`) and simulated SMS and push gateways (`gateway-sim.ts`) in this process, on the
// ports given (the service's defaults are 2525, 3062 and 3063), and optionally a read-only view of the
// mailbox over HTTP (`GET /mail`). Every confirmation carries its idempotency key (the e-mail in
// `X-Idempotency-Key`, the gateways' requests in `Idempotency-Key`), so a delivery is counted once per key
// whatever the repeats.
import { createServer, type Server } from 'node:http';
import { GatewaySim } from './gateway-sim';
import { messageText, type SinkMessage, SmtpSink } from './smtp-sink';

export type ConfirmationChannelName = 'email' | 'sms' | 'push';

/** One confirmation as a receiver took it. */
export interface Arrival {
  channel: ConfirmationChannelName;
  /** The idempotency key `<appointmentId>:<event>:<version>:<recipient>:<channel>`. */
  key: string;
  /** The address: an e-mail address, a phone number or a device. */
  to: string;
  subject: string;
  /** A repeat of a key already received (at-least-once delivery); receivers drop it. */
  duplicate: boolean;
  receivedAt: number;
}

export interface ConfirmationSinksOptions {
  smtpPort: number;
  smsPort: number;
  pushPort: number;
  /**
   * Serves `GET /mail` (one entry per Message-ID, the text decoded) and `GET /arrivals` (every idempotency
   * key received, on any channel, with its first arrival and its repeats) on this port when given.
   */
  mailboxPort?: number;
  /** The address every receiver listens on (127.0.0.1 unless given). */
  host?: string;
  /** Called with every confirmation received, repeats included. */
  onArrival?: (arrival: Arrival) => void;
}

/** The SMTP sink and the two gateways, started and stopped together. */
export class ConfirmationSinks {
  readonly smtp: SmtpSink;
  readonly sms: GatewaySim;
  readonly push: GatewaySim;
  /** The first arrival (Date.now()) of each idempotency key. */
  private readonly firstArrival = new Map<string, number>();
  private repeats = 0;
  /** Repeats per idempotency key. */
  private readonly repeatsOf = new Map<string, number>();
  private mailbox?: Server;

  constructor(private readonly options: ConfirmationSinksOptions) {
    this.smtp = new SmtpSink({
      port: options.smtpPort,
      host: options.host,
      onMessage: (message) => this.arrived(mailArrival(message)),
    });
    const gateway = (channel: 'sms' | 'push', path: string, port: number) =>
      new GatewaySim(path, {
        port,
        host: options.host,
        onRequest: (request, duplicate) =>
          this.arrived({
            channel,
            key: request.key,
            to: String(request.body.to),
            subject: String(request.body.title),
            duplicate,
            receivedAt: request.receivedAt,
          }),
      });
    this.sms = gateway('sms', '/messages', options.smsPort);
    this.push = gateway('push', '/notifications', options.pushPort);
  }

  /** The appointments service's settings that point its confirmations here. */
  serviceEnv(): Record<'SMTP_URL' | 'SMS_GATEWAY_URL' | 'PUSH_GATEWAY_URL', string> {
    return { SMTP_URL: this.smtp.url, SMS_GATEWAY_URL: this.sms.url, PUSH_GATEWAY_URL: this.push.url };
  }

  /** Where a person sees what arrived, by channel. */
  views(): Record<ConfirmationChannelName, string> {
    const mail =
      this.options.mailboxPort === undefined
        ? '(no mailbox view)'
        : `http://127.0.0.1:${this.options.mailboxPort}/mail`;
    return { email: mail, sms: this.sms.url, push: this.push.url };
  }

  async start(): Promise<void> {
    await Promise.all([this.smtp.start(), this.sms.start(), this.push.start()]);
    if (this.options.mailboxPort !== undefined)
      this.mailbox = await this.serveMailbox(this.options.mailboxPort);
  }

  async stop(): Promise<void> {
    const mailbox = this.mailbox;
    this.mailbox = undefined;
    if (mailbox) {
      mailbox.closeAllConnections();
      await new Promise<void>((resolve) => mailbox.close(() => resolve()));
    }
    await Promise.all([this.smtp.stop(), this.sms.stop(), this.push.stop()]);
  }

  /** Confirmations delivered: distinct idempotency keys received on any channel. */
  get delivered(): number {
    return this.firstArrival.size;
  }

  /** Repeats received (keys seen before): at-least-once delivery's duplicates. */
  get duplicates(): number {
    return this.repeats;
  }

  /** When `key` first arrived (Date.now()), or undefined. */
  arrivalOf(key: string): number | undefined {
    return this.firstArrival.get(key);
  }

  /** The first arrival of every key received so far. */
  arrivals(): ReadonlyMap<string, number> {
    return this.firstArrival;
  }

  private arrived(arrival: Arrival): void {
    const seen = this.firstArrival.has(arrival.key);
    if (seen) {
      this.repeats += 1;
      this.repeatsOf.set(arrival.key, (this.repeatsOf.get(arrival.key) ?? 0) + 1);
    } else this.firstArrival.set(arrival.key, arrival.receivedAt);
    this.options.onArrival?.({ ...arrival, duplicate: arrival.duplicate || seen });
  }

  private async serveMailbox(port: number): Promise<Server> {
    const server = createServer((req, res) => {
      const route = req.method === 'GET' ? req.url : undefined;
      if (route !== '/mail' && route !== '/arrivals') {
        res.writeHead(404, { 'content-type': 'application/json' });
        return res.end(
          JSON.stringify({ error: 'GET /mail lists the mails received, GET /arrivals every key' }),
        );
      }
      res.writeHead(200, { 'content-type': 'application/json' });
      if (route === '/arrivals')
        return res.end(
          JSON.stringify(
            [...this.firstArrival].map(([key, at]) => ({
              key,
              firstArrival: new Date(at).toISOString(),
              repeats: this.repeatsOf.get(key) ?? 0,
            })),
          ),
        );
      const mails = this.smtp.unique().map((m) => ({
        messageId: m.messageId,
        idempotencyKey: m.idempotencyKey,
        from: m.from,
        to: m.to,
        subject: m.subject,
        receivedAt: new Date(m.receivedAt).toISOString(),
        text: messageText(m.raw),
      }));
      res.end(JSON.stringify(mails, null, 2));
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, this.options.host ?? '127.0.0.1', () => {
        server.off('error', reject);
        resolve();
      });
    });
    return server;
  }
}

function mailArrival(message: SinkMessage): Arrival {
  return {
    channel: 'email',
    // A mail without the header is still a delivery: its Message-ID is the key with '/' for ':'.
    key: message.idempotencyKey ?? message.messageId,
    to: message.to.join(', '),
    subject: message.subject,
    duplicate: false,
    receivedAt: message.receivedAt,
  };
}
