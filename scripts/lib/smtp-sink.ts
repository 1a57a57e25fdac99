// An SMTP server that takes every mail and keeps it: the e-mail receiver of the appointments service's
// confirmations in its integration spec, the `appointments` bench and the demo (on port 2525, the
// service's default SMTP_URL).
import type { AddressInfo } from 'node:net';
import { SMTPServer } from 'smtp-server';

/** A message the sink accepted. */
export interface SinkMessage {
  messageId: string;
  idempotencyKey: string | undefined;
  from: string | undefined;
  to: string[];
  subject: string;
  /** The whole message as received (headers and body). */
  raw: string;
  /** When the sink took it (Date.now()). */
  receivedAt: number;
}

export interface SmtpSinkOptions {
  /** The port to listen on; a free one when absent. */
  port?: number;
  /** The address to listen on (127.0.0.1 unless given: a container's receivers listen on 0.0.0.0). */
  host?: string;
  /** Called with every message accepted, duplicates included. */
  onMessage?: (message: SinkMessage) => void;
}

/** How the sink answers MAIL FROM: accept, 451 (try again later) or 550 (never). */
export type SinkMode = 'accept' | 'temporary' | 'permanent';

/**
 * A real SMTP server on a loopback port (`smtp-server`): takes any mail without authentication or TLS and
 * records it with its Message-ID; can be stopped and started again on the same port (a mail server that
 * goes away), and told to answer 451 or 550.
 */
export class SmtpSink {
  /** Every message accepted, duplicates included, in arrival order. */
  readonly received: SinkMessage[] = [];
  mode: SinkMode = 'accept';
  private server?: SMTPServer;
  private port: number;

  constructor(private readonly options: SmtpSinkOptions = {}) {
    this.port = options.port ?? 0;
  }

  get url(): string {
    return `smtp://127.0.0.1:${this.port}`;
  }

  /** Listens on the port it had (a free one the first time). */
  async start(): Promise<void> {
    const server = new SMTPServer({
      authOptional: true,
      disabledCommands: ['AUTH', 'STARTTLS'],
      logger: false,
      closeTimeout: 50,
      onMailFrom: (_address, _session, callback) => {
        if (this.mode === 'accept') return callback();
        const error = Object.assign(
          new Error(this.mode === 'temporary' ? 'Try again later' : 'Mailbox unavailable'),
          { responseCode: this.mode === 'temporary' ? 451 : 550 },
        );
        callback(error);
      },
      onData: (stream, session, callback) => {
        const chunks: Buffer[] = [];
        stream.on('data', (chunk: Buffer) => chunks.push(chunk));
        stream.on('end', () => {
          const raw = Buffer.concat(chunks).toString('utf8');
          const message: SinkMessage = {
            messageId: header(raw, 'message-id') ?? '',
            idempotencyKey: header(raw, 'x-idempotency-key'),
            from: session.envelope.mailFrom ? session.envelope.mailFrom.address : undefined,
            to: session.envelope.rcptTo.map((rcpt) => rcpt.address),
            subject: header(raw, 'subject') ?? '',
            raw,
            receivedAt: Date.now(),
          };
          this.received.push(message);
          this.options.onMessage?.(message);
          callback();
        });
      },
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.port, this.options.host ?? '127.0.0.1', () => {
        server.off('error', reject);
        // A sender killed mid-transaction resets its connection: smtp-server reports it as an 'error' of
        // the server, which must not end the process that hosts the sink.
        server.on('error', () => undefined);
        resolve();
      });
    });
    this.server = server;
    this.port = (server.server.address() as AddressInfo).port;
  }

  /** Stops listening and drops open connections; `start()` brings it back on the same port. */
  async stop(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  /** The accepted messages, one per Message-ID (what a de-duplicating mailbox shows). */
  unique(): SinkMessage[] {
    const seen = new Map<string, SinkMessage>();
    for (const message of this.received)
      if (!seen.has(message.messageId)) seen.set(message.messageId, message);
    return [...seen.values()];
  }

  /** Accepted messages (duplicates included) whose idempotency key starts with `prefix`. */
  matching(prefix: string): SinkMessage[] {
    return this.received.filter((message) => message.idempotencyKey?.startsWith(prefix));
  }
}

/**
 * The body of a plain-text message as a reader sees it: quoted-printable (nodemailer's choice for text
 * beyond ASCII) decoded; other encodings are returned as they came.
 */
export function messageText(raw: string): string {
  const separator = /\r?\n\r?\n/.exec(raw);
  const body = separator ? raw.slice(separator.index + separator[0].length) : '';
  if (!/^quoted-printable$/i.test(header(raw, 'content-transfer-encoding') ?? '')) return body;
  const unfolded = body.replace(/=\r?\n/g, '');
  return Buffer.from(
    unfolded.replace(/=([0-9A-F]{2})/gi, (_, hex: string) => String.fromCharCode(parseInt(hex, 16))),
    'latin1',
  ).toString('utf8');
}

/** A header's value from a raw message (unfolded), or undefined. */
function header(raw: string, name: string): string | undefined {
  const head = raw.split(/\r?\n\r?\n/, 1)[0].replace(/\r?\n[ \t]+/g, ' ');
  const line = head.split(/\r?\n/).find((l) => l.toLowerCase().startsWith(`${name}:`));
  return line?.slice(name.length + 1).trim();
}
