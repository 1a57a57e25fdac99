// One analyzer connection of the `hl7` bench: a persistent MLLP client (`@medplum/hl7` Hl7Client) that
// sends one message at a time and waits for its ACK. A time-out or a connection the LIS closed fails the
// message in flight; the next message opens a new connection.
import type { Hl7Message } from '@medplum/core';
import { Hl7Client, Hl7Connection } from '@medplum/hl7';

/** Why a message got no ACK: none within the time-out, or the connection broke (or never opened). */
export class NoAckError extends Error {}

/** An analyzer's persistent MLLP connection to the LIS's result listener. */
export class PersistentMllpClient {
  private client?: Hl7Client;
  private connection?: Hl7Connection;
  /** Connections opened, the first included (more than one means some broke). */
  connections = 0;

  constructor(
    private readonly host: string,
    private readonly port: number,
    private readonly timeoutMs: number,
  ) {}

  /** Sends `message` and resolves with its ACK; rejects with NoAckError and drops the connection otherwise. */
  async send(message: Hl7Message): Promise<Hl7Message> {
    const connection = await this.connected();
    let timer: NodeJS.Timeout | undefined;
    let onClose: (() => void) | undefined;
    const failure = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new NoAckError(`no ACK within ${this.timeoutMs} ms`)), this.timeoutMs);
      onClose = () => reject(new NoAckError('connection closed by the listener'));
      connection.addEventListener('close', onClose);
    });
    try {
      // No library time-out: its timer is not cleared when the ACK comes, the one here is.
      return await Promise.race([connection.sendAndWait(message), failure]);
    } catch (error) {
      await this.drop();
      throw error instanceof NoAckError ? error : new NoAckError(String(error));
    } finally {
      clearTimeout(timer);
      if (onClose) connection.removeEventListener('close', onClose);
    }
  }

  async close(): Promise<void> {
    await this.drop();
  }

  private async connected(): Promise<Hl7Connection> {
    if (this.connection && !this.connection.isClosed()) return this.connection;
    await this.drop();
    const client = new Hl7Client({ host: this.host, port: this.port, connectTimeout: this.timeoutMs });
    client.addEventListener('error', () => undefined);
    this.client = client;
    try {
      this.connection = await client.connect();
    } catch (error) {
      await this.drop();
      throw new NoAckError(`connect: ${error instanceof Error ? error.message : String(error)}`);
    }
    this.connection.addEventListener('error', () => undefined);
    this.connections += 1;
    return this.connection;
  }

  private async drop(): Promise<void> {
    const client = this.client;
    this.client = undefined;
    this.connection = undefined;
    await client?.close().catch(() => undefined);
  }
}
