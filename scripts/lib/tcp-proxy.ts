// A TCP proxy a test or fault run controls: it forwards a port to a service until it is cut, then
// drops every open connection and refuses new ones (as a host behind a network partition looks to the
// caller), until it is healed. Used to cut a 3PC participant off from its coordinator and its peers.
import { createServer, type Server, type Socket, connect } from 'node:net';

export class TcpProxy {
  private readonly sockets = new Set<Socket>();
  private cut = false;
  private server?: Server;
  /** Cut the moment a request carrying this text starts to pass (see `cutOnRequest`). */
  private trigger?: { text: string; cut: () => void };

  constructor(
    readonly port: number,
    private readonly target: { host: string; port: number },
  ) {}

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  get isCut(): boolean {
    return this.cut;
  }

  async start(): Promise<void> {
    const server = createServer((client) => {
      if (this.cut) {
        client.destroy();
        return;
      }
      const upstream = connect(this.target.port, this.target.host);
      for (const s of [client, upstream]) {
        this.sockets.add(s);
        s.on('close', () => this.sockets.delete(s));
        s.on('error', () => undefined);
      }
      // What the caller sends is looked at as it passes, for a cut triggered by a request's content; the
      // tail of each chunk is kept so the text is found across chunk boundaries too.
      let tail = '';
      client.on('data', (chunk: Buffer) => {
        const text = tail + chunk.toString('latin1');
        if (this.trigger && text.includes(this.trigger.text)) {
          this.trigger.cut();
          return;
        }
        tail = text.slice(-256);
        if (!upstream.write(chunk)) client.pause();
      });
      upstream.on('drain', () => client.resume());
      client.on('end', () => upstream.end());
      upstream.pipe(client);
      client.on('close', () => upstream.destroy());
      upstream.on('close', () => client.destroy());
    });
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.port, '127.0.0.1', () => resolve());
    });
  }

  /** The partition starts: open connections drop, new ones are refused. */
  cutOff(): void {
    this.cut = true;
    for (const s of this.sockets) s.destroy();
    this.sockets.clear();
  }

  /**
   * Cuts the service off as soon as a request containing `text` reaches the proxy, before any of it is
   * forwarded: a partition that starts at exactly that message (say, the first PreCommit). Resolves then.
   */
  cutOnRequest(text: string): Promise<void> {
    return new Promise((resolve) => {
      this.trigger = {
        text,
        cut: () => {
          this.trigger = undefined;
          this.cutOff();
          resolve();
        },
      };
    });
  }

  /** Forgets a `cutOnRequest` that has not fired (its promise then never resolves). */
  disarm(): void {
    this.trigger = undefined;
  }

  /** The partition heals. */
  heal(): void {
    this.cut = false;
  }

  async stop(): Promise<void> {
    this.cutOff();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }
}
