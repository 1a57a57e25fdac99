import { randomUUID } from 'node:crypto';
import { Inject, Injectable, OnApplicationBootstrap, OnApplicationShutdown } from '@nestjs/common';
import type { SupplyRequest } from '@medplum/fhirtypes';
import { Logger } from 'pino';
import { FhirResourceStore, Stored } from '@hospital/fhir';
import { Database, ROOT_LOGGER, SERVICE_CONFIG, Session } from '@hospital/platform';
import {
  DuplicateMessageError,
  errorMessage,
  MessageAbortedError,
  MessageTransactionProducer,
  RecoveryLoop,
} from '@hospital/transactions';
import { SupplyChainConfig } from '../../config';
import {
  decideReorder,
  purchaseOrderFor,
  purchaseOrderPlacedMessage,
  Reorder,
  reorderFromSupplyRequest,
  supplyRequestFor,
} from './purchase-order';
import { PurchasingRepository, ReorderRecord } from './purchasing.repository';
import { SupplyChainException, SupplyChainErrorCode } from './supply-chain.exception';

/** How long a purchaser holds a claimed reorder while its two-phase message is prepared, committed, submitted. */
export const PURCHASING_LEASE_MS = 30_000;
/** Reorders one sweep claims. */
const SWEEP_BATCH = 50;
/** Back-off of a failed placing attempt: doubles from the base up to the cap. */
const RETRY_BASE_MS = 500;
const RETRY_MAX_MS = 60_000;

/** What one placing attempt came to. */
export type PlacingResult =
  | { kind: 'placed'; supplyRequest: Stored<SupplyRequest> }
  /** This reorder's purchase order was committed by an earlier attempt (its message goes out once). */
  | { kind: 'already-placed' }
  /** Not placed now; the reorder stays open and a later sweep tries again. */
  | { kind: 'retry'; reason: string };

export function retryDelayMs(attempts: number): number {
  return Math.min(RETRY_MAX_MS, RETRY_BASE_MS * 2 ** Math.min(Math.max(attempts - 1, 0), 20));
}

/**
 * Places purchase orders: each open reorder becomes exactly one purchase order, sent to the supplier as a
 * two-phase message whose local transaction writes the order, its SupplyRequest and the reorder's new
 * state. A sweep (every `TX_RECOVERY_INTERVAL_MS`, and right after a StockLow) claims open reorders with
 * `FOR UPDATE SKIP LOCKED` and a lease, so replicas share the work and a crashed purchaser's reorders are
 * taken over when its lease ends — with the same gtid, derived from the reorder id.
 */
@Injectable()
export class PurchasingService implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly loop: RecoveryLoop;

  constructor(
    @Inject(Database) private readonly db: Database,
    @Inject(FhirResourceStore) private readonly store: FhirResourceStore,
    @Inject(PurchasingRepository) private readonly repository: PurchasingRepository,
    @Inject(MessageTransactionProducer) private readonly producer: MessageTransactionProducer<Session>,
    @Inject(SERVICE_CONFIG) config: SupplyChainConfig,
    @Inject(ROOT_LOGGER) private readonly logger: Logger,
  ) {
    this.loop = new RecoveryLoop(
      'purchasing',
      () => this.sweep(),
      config.env.TX_RECOVERY_INTERVAL_MS,
      logger,
    );
  }

  onApplicationBootstrap(): void {
    this.loop.start();
  }

  async onApplicationShutdown(): Promise<void> {
    await this.loop.stop();
  }

  /**
   * Asks for a sweep soon (a StockLow was just recorded; its transaction commits right after the
   * handler returns). A sweep already running may have missed it, so a second one follows it.
   */
  nudge(): void {
    setTimeout(() => void this.loop.runOnce().then(() => this.loop.runOnce()), 20).unref();
  }

  /** One sweep: claims open reorders and places each; returns how many purchase orders it placed. */
  async sweep(): Promise<number> {
    const claimed = await this.db.transaction((tx) =>
      this.repository.claimOpen(tx, SWEEP_BATCH, PURCHASING_LEASE_MS),
    );
    let placed = 0;
    for (const reorder of claimed) {
      if ((await this.place(reorder)).kind === 'placed') placed += 1;
    }
    return placed;
  }

  /**
   * A purchaser's `POST /fhir/SupplyRequest`: records the reorder (held by this request) and places its
   * purchase order through the same two-phase message as a StockLow's. When the message server cannot be
   * reached the reorder stays recorded and the sweep places it later (the answer says so, with 503).
   */
  async placeManual(resource: SupplyRequest): Promise<Stored<SupplyRequest>> {
    const reorder = reorderFromSupplyRequest(resource, () => `manual-${randomUUID()}`);
    const claimed = await this.claimManual(reorder);
    const result = await this.place(claimed);
    switch (result.kind) {
      case 'placed':
        return result.supplyRequest;
      case 'already-placed':
        throw this.alreadyOrdered(reorder.reorderId);
      case 'retry':
        throw new SupplyChainException(
          SupplyChainErrorCode.MessageServerUnavailable,
          `Reorder ${reorder.reorderId} is recorded but its purchase order could not be sent yet; it is retried`,
        );
    }
  }

  private async claimManual(reorder: Reorder): Promise<ReorderRecord> {
    if (await this.repository.insertReorder(this.db, reorder, PURCHASING_LEASE_MS)) {
      return { ...reorder, state: 'open', generation: 0, attempts: 1 };
    }
    const existing = await this.repository.findReorder(this.db, reorder.reorderId);
    decideReorder(existing, reorder);
    if (existing?.state === 'ordered') throw this.alreadyOrdered(reorder.reorderId);
    const claimed = await this.repository.claimOne(this.db, reorder.reorderId, PURCHASING_LEASE_MS);
    if (claimed === undefined) {
      throw new SupplyChainException(
        SupplyChainErrorCode.ReorderConflict,
        `Reorder ${reorder.reorderId} is being placed by another request`,
      );
    }
    return claimed;
  }

  private alreadyOrdered(reorderId: string): SupplyChainException {
    return new SupplyChainException(
      SupplyChainErrorCode.ReorderConflict,
      `Reorder ${reorderId} already has its purchase order`,
    );
  }

  /**
   * One placing attempt of a claimed reorder. The local transaction re-reads the reorder under lock and
   * refuses to write when it is no longer open in this attempt's generation (then the message aborts).
   */
  async place(reorder: ReorderRecord): Promise<PlacingResult> {
    const order = purchaseOrderFor(reorder, reorder.generation);
    try {
      const supplyRequest = await this.producer.run(purchaseOrderPlacedMessage(order), async (session) => {
        const current = await this.repository.findReorder(session, reorder.reorderId, true);
        if (current?.state !== 'open' || current.generation !== reorder.generation) {
          throw new Error(`reorder ${reorder.reorderId} moved on while its purchase order was being placed`);
        }
        await this.repository.insertPurchaseOrder(session, order);
        await this.repository.markOrdered(session, reorder.reorderId);
        return this.store.create(session, supplyRequestFor(order, new Date()), { id: order.purchaseOrderId });
      });
      this.logger.info(
        { gtid: order.gtid, reorderId: order.reorderId, purchaseOrderId: order.purchaseOrderId },
        'purchase order placed',
      );
      return { kind: 'placed', supplyRequest };
    } catch (error) {
      if (error instanceof DuplicateMessageError) return { kind: 'already-placed' };
      // An aborted gtid can never be prepared again: the next attempt uses the next generation's gtid.
      const nextGeneration = error instanceof MessageAbortedError;
      const reason = errorMessage(error);
      this.logger.warn(
        { gtid: order.gtid, reorderId: order.reorderId, error: reason, nextGeneration },
        'purchase order not placed; it is retried',
      );
      await this.repository
        .release(
          this.db,
          reorder,
          reason,
          nextGeneration ? 0 : retryDelayMs(reorder.attempts),
          nextGeneration,
        )
        .catch((releaseError: unknown) =>
          this.logger.warn(
            { reorderId: order.reorderId, error: errorMessage(releaseError) },
            'reorder not released; its lease expires',
          ),
        );
      return { kind: 'retry', reason };
    }
  }
}
