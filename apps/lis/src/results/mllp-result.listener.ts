import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { type AddressInfo, createServer, type Server } from 'node:net';
import { BeforeApplicationShutdown, Inject, Injectable, OnApplicationBootstrap } from '@nestjs/common';
import type { Hl7Message } from '@medplum/core';
import { Hl7Connection, Hl7ErrorEvent, Hl7MessageEvent } from '@medplum/hl7';
import { environmentOf, ROOT_LOGGER, SERVICE_CONFIG, ServiceConfig } from '@hospital/platform';
import { Logger } from 'pino';
import { Hl7Environment } from '../config';
import { accept, AckDecision, buildAck, Hl7ErrorCode, refuse } from '../hl7/hl7-ack';
import { readOruR01 } from './oru-r01.reader';
import { ResultIntakeService } from './result-intake.service';

/** The ACK control id of the LIS's own answers (MSH-10 of an ACK): unique, 20 characters. */
function ackControlId(): string {
  return `ACK${randomUUID().replace(/-/g, '').slice(0, 17).toUpperCase()}`;
}

/**
 * The LIS's MLLP listener for analyzer results (ORU^R01), started with the app and stopped before it
 * goes down: a TCP server whose connections are @medplum/hl7 `Hl7Connection`s (MLLP framing). Not
 * `Hl7Server`, whose retry on a taken port cannot be stopped and would listen again after shutdown. Each message is checked, applied in one transaction, and acknowledged only after the commit;
 * a message whose processing was cut short gets no ACK, and the analyzer sends it again.
 */
@Injectable()
export class MllpResultListener implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private server?: Server;
  private retry?: NodeJS.Timeout;
  private stopping = false;
  private readonly inFlight = new Set<Promise<void>>();
  private boundPort?: number;

  constructor(
    @Inject(ResultIntakeService) private readonly intake: ResultIntakeService,
    @Inject(SERVICE_CONFIG) private readonly config: ServiceConfig,
    @Inject(ROOT_LOGGER) private readonly logger: Logger,
  ) {}

  /** The port the listener took (the configured one, or the one picked for 0). */
  get port(): number {
    if (this.boundPort === undefined) throw new Error('the MLLP listener is not started');
    return this.boundPort;
  }

  async onApplicationBootstrap(): Promise<void> {
    const port = environmentOf(this.config, Hl7Environment).HL7_LISTEN_PORT;
    const server = createServer((socket) => this.serve(new Hl7Connection(socket)));
    this.server = server;
    server.on('listening', () => {
      this.boundPort = (server.address() as AddressInfo).port;
      this.logger.info({ port: this.boundPort }, 'MLLP listener for results started');
    });
    server.on('error', (error: NodeJS.ErrnoException) => {
      if (this.stopping) return;
      // A port held by another process: the LIS serves HTTP meanwhile and takes the port once it is free.
      this.logger.error({ port, code: error.code }, 'MLLP listener cannot listen; trying again in 5 s');
      this.retry = setTimeout(() => server.listen(port), 5_000);
    });
    server.listen(port);
    // Boot waits for the first outcome: listening, or the error the retries above take care of.
    await Promise.race([once(server, 'listening'), once(server, 'error')]).catch(() => undefined);
  }

  async beforeApplicationShutdown(): Promise<void> {
    this.stopping = true;
    clearTimeout(this.retry);
    const server = this.server;
    this.server = undefined;
    if (!server) return;
    // No new connections; the messages being applied finish and are acknowledged; then the rest close.
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    await Promise.allSettled([...this.inFlight]);
    for (const connection of this.connections) await connection.close().catch(() => undefined);
    await closed;
  }

  private readonly connections = new Set<Hl7Connection>();

  private serve(connection: Hl7Connection): void {
    this.connections.add(connection);
    connection.addEventListener('close', () => this.connections.delete(connection));
    connection.addEventListener('message', (event: Hl7MessageEvent) =>
      this.track(this.answer(connection, event.message)),
    );
    connection.addEventListener('error', (event: Hl7ErrorEvent) => {
      // A frame that does not start with MSH cannot be parsed at all: answer AE 100 without MSA-2.
      if ((event.error as { type?: string }).type === 'entity.parse.failed' && !connection.isClosed()) {
        const decision = refuse(
          'AE',
          Hl7ErrorCode.SegmentSequenceError,
          'the message does not start with MSH',
          {
            segment: 'MSH',
          },
        );
        connection.send(buildAck(undefined, decision, ackControlId()));
      }
    });
  }

  private track(work: Promise<void>): void {
    this.inFlight.add(work);
    void work.finally(() => this.inFlight.delete(work));
  }

  private async answer(connection: Hl7Connection, message: Hl7Message): Promise<void> {
    const controlId = message.getSegment('MSH')?.getField(10)?.toString() ?? '';
    const decision = await this.decide(message, controlId);
    this.logger.info(
      { controlId, ack: decision.code, error: decision.error?.code, text: decision.text },
      'result message acknowledged',
    );
    if (!connection.isClosed()) connection.send(buildAck(message, decision, ackControlId()));
  }

  private async decide(message: Hl7Message, controlId: string): Promise<AckDecision> {
    const read = readOruR01(message);
    if (!read.ok) return read.ack;
    try {
      switch (await this.intake.apply(read.result)) {
        case 'applied':
          return accept('applied');
        case 'duplicate':
          return accept('duplicate: applied before, nothing changed');
        case 'unknown-order':
          return refuse(
            'AE',
            Hl7ErrorCode.UnknownKeyIdentifier,
            'OBR-2 names no laboratory order the LIS holds',
            {
              segment: 'OBR',
              sequence: 1,
              field: 2,
            },
          );
      }
    } catch (error) {
      this.logger.error({ controlId, error: (error as Error).message }, 'result message not applied');
      return refuse('AE', Hl7ErrorCode.ApplicationInternalError, 'not applied; send it again');
    }
  }
}
