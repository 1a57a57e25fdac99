import { Client } from 'pg';
import type { Database } from '@hospital/platform';

/**
 * Wakes the workers that poll a table (outbox relays, notification dispatchers) when rows were committed:
 * at once in this process, and through one coalesced `NOTIFY` (outside any transaction, so commits never
 * queue on the notification lock) to other processes, which `LISTEN` on their own connection. A lost
 * LISTEN connection is opened again on the next wait; meanwhile waiting falls back to its time-out.
 */
export class PgWakeups {
  private listener?: Client;
  private listening?: Promise<void>;
  private signalled = false;
  private waiters: (() => void)[] = [];
  private notifyScheduled = false;
  private closed = false;

  constructor(
    private readonly db: Database,
    private readonly channel: string,
    private readonly applicationName: string,
  ) {}

  notify(): void {
    this.signal();
    if (this.notifyScheduled || this.closed) return;
    this.notifyScheduled = true;
    setTimeout(() => {
      this.notifyScheduled = false;
      this.db.query(`SELECT pg_notify('${this.channel}', '')`).catch(() => undefined);
    }, 1);
  }

  /** Resolves when woken (or already woken since the last wait), or after `timeoutMs`. */
  async wait(timeoutMs: number): Promise<void> {
    await this.listen();
    if (this.signalled) {
      this.signalled = false;
      return;
    }
    await new Promise<void>((resolve) => {
      const timer = setTimeout(done, timeoutMs);
      function done(): void {
        clearTimeout(timer);
        resolve();
      }
      this.waiters.push(done);
    });
    this.signalled = false;
  }

  async close(): Promise<void> {
    this.closed = true;
    this.signal();
    await this.listener?.end().catch(() => undefined);
    this.listener = undefined;
  }

  private signal(): void {
    const waiters = this.waiters;
    this.waiters = [];
    if (waiters.length === 0) this.signalled = true;
    for (const wake of waiters) wake();
  }

  private listen(): Promise<void> {
    if (this.listener || this.closed) return Promise.resolve();
    this.listening ??= (async () => {
      const { host, port, user, password, database } = this.db.settings;
      const client = new Client({
        host,
        port,
        user,
        password,
        database,
        application_name: this.applicationName,
      });
      client.on('notification', () => this.signal());
      client.on('error', () => {
        if (this.listener === client) this.listener = undefined;
        void client.end().catch(() => undefined);
      });
      try {
        await client.connect();
        await client.query(`LISTEN ${this.channel}`);
        this.listener = client;
      } catch {
        await client.end().catch(() => undefined);
      }
    })().finally(() => {
      this.listening = undefined;
    });
    return this.listening;
  }
}
