import { Inject, Injectable, OnApplicationShutdown } from '@nestjs/common';
import type { Patient, ServiceRequest } from '@medplum/fhirtypes';
import { FhirResourceStore, patientIdOf } from '@hospital/fhir';
import { environmentOf, ROOT_LOGGER, SERVICE_CONFIG, ServiceConfig, Session } from '@hospital/platform';
import {
  InboundMessage,
  MessageHandler,
  parseMessagePayload,
  RejectedMessageError,
} from '@hospital/transactions';
import { Logger } from 'pino';
import { Hl7Environment } from '../config';
import { readAck } from '../hl7/hl7-ack';
import { LabOrderPlacedPayload } from '../orders/lab-order.event';
import { AnalyzerClient } from './analyzer.client';
import { buildOmlO21, orderControlId } from './oml-o21.builder';

/** A transient failure to hand an order over (no answer, AE): retried with back-off, never given up. */
export class AnalyzerUnavailableError extends Error {}

/** What an analyzer's ACK to an order means for its outbox message. */
export function orderAckOutcome(ack: ReturnType<typeof readAck>): 'applied' | 'rejected' | 'retry' {
  if (ack.code === 'AA' || ack.code === 'CA') return 'applied';
  if (ack.code === 'AR' || ack.code === 'CR') return 'rejected';
  return 'retry';
}

/**
 * Sends each placed laboratory order to the analyzer as OML^O21 over MLLP, inside the inbox transaction of
 * its outbox message: AA applies it (the inbox records it, so it is never sent again once acknowledged),
 * AR dead-letters it with the analyzer's reason, and AE, a timeout or a refused connection leave it to be
 * retried. MSH-10 derives from the message id, so a resend after a crash is one the analyzer recognises.
 */
@Injectable()
export class AnalyzerOrderHandler implements MessageHandler<Session>, OnApplicationShutdown {
  private readonly client: AnalyzerClient;

  constructor(
    @Inject(FhirResourceStore) private readonly store: FhirResourceStore,
    @Inject(SERVICE_CONFIG) config: ServiceConfig,
    @Inject(ROOT_LOGGER) private readonly logger: Logger,
  ) {
    const env = environmentOf(config, Hl7Environment);
    this.client = new AnalyzerClient({
      host: env.ANALYZER_MLLP_HOST,
      port: env.ANALYZER_MLLP_PORT,
      ackTimeoutMs: env.ANALYZER_ACK_TIMEOUT_MS,
    });
  }

  async handle(session: Session, message: InboundMessage): Promise<void> {
    const { serviceRequestId } = parseMessagePayload(LabOrderPlacedPayload, message);
    const order = await this.store.read<ServiceRequest>(session, 'ServiceRequest', serviceRequestId);
    const patientId = patientIdOf(order.subject);
    if (patientId === undefined)
      throw new RejectedMessageError(`ServiceRequest/${serviceRequestId} has no patient`);
    const patient = await this.store.read<Patient>(session, 'Patient', patientId);
    const controlId = orderControlId(message.id);
    let ack;
    try {
      ack = readAck(await this.client.send(buildOmlO21(order, patient, controlId)));
    } catch (error) {
      throw new AnalyzerUnavailableError(`order ${controlId} not acknowledged: ${(error as Error).message}`);
    }
    const outcome = orderAckOutcome(ack);
    this.logger.info(
      { controlId, serviceRequestId, ack: ack.code, error: ack.errorCode },
      'analyzer answered an order',
    );
    if (outcome === 'rejected') {
      throw new RejectedMessageError(
        `analyzer rejected order ${controlId} (AR${ack.errorCode ? ` ${ack.errorCode}` : ''}): ${ack.text.slice(0, 200)}`,
      );
    }
    if (outcome === 'retry') {
      throw new AnalyzerUnavailableError(
        `analyzer answered ${ack.code || '(no code)'} to order ${controlId}`,
      );
    }
  }

  onApplicationShutdown(): Promise<void> {
    return this.client.close();
  }
}
