import { Hl7Message } from '@medplum/core';
import { Hl7Client, Hl7Connection } from '@medplum/hl7';

/** Where the analyzer listens, and how long an order waits for its ACK. */
export interface AnalyzerEndpoint {
  host: string;
  port: number;
  ackTimeoutMs: number;
}

/**
 * The LIS's MLLP connection to the analyzer: one connection, opened on first use and again after it
 * drops; one message at a time (an analyzer takes orders in sequence). `send` resolves with the ACK, or
 * rejects on a refused connection, a dropped one or no ACK in time.
 */
export class AnalyzerClient {
  private client?: Hl7Client;
  private queue: Promise<unknown> = Promise.resolve();

  constructor(private readonly endpoint: AnalyzerEndpoint) {}

  send(message: Hl7Message): Promise<Hl7Message> {
    const turn = this.queue.then(() => this.sendNow(message));
    this.queue = turn.catch(() => undefined);
    return turn;
  }

  private async sendNow(message: Hl7Message): Promise<Hl7Message> {
    const client = (this.client ??= this.connect());
    try {
      return await this.ackWithin(await client.connect(), message);
    } catch (error) {
      // Start afresh next time: a late ACK on the old connection must not answer a later message.
      this.client = undefined;
      await client.close().catch(() => undefined);
      throw error;
    }
  }

  /**
   * The ACK of `message`, or a rejection after the ACK timeout. The timer is ours, cleared on the ACK
   * (the library's own would stay armed for the whole timeout after an early ACK).
   */
  private async ackWithin(connection: Hl7Connection, message: Hl7Message): Promise<Hl7Message> {
    const ms = this.endpoint.ackTimeoutMs;
    const answer = connection.sendAndWait(message);
    answer.catch(() => undefined); // settled by the race, or rejected when the connection closes
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no ACK within ${ms} ms`)), ms);
    });
    try {
      return await Promise.race([answer, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  private connect(): Hl7Client {
    const client = new Hl7Client({
      host: this.endpoint.host,
      port: this.endpoint.port,
      connectTimeout: this.endpoint.ackTimeoutMs,
    });
    // Connection errors reach the caller as the send's rejection; the event itself needs no more.
    client.addEventListener('error', () => undefined);
    return client;
  }

  async close(): Promise<void> {
    const client = this.client;
    this.client = undefined;
    await client?.close().catch(() => undefined);
  }
}
