import { Inject, Injectable, OnApplicationBootstrap, OnApplicationShutdown } from '@nestjs/common';
import { Logger } from 'pino';
import { Database, ROOT_LOGGER, SERVICE_CONFIG } from '@hospital/platform';
import { Outbox, RecoveryLoop } from '@hospital/transactions';
import { SupplierConfig } from '../../config';
import { deliveryIdFor, deliveryShippedEvent } from './shipment';
import { SupplierRepository } from './supplier.repository';

/** Orders one shipping sweep ships. */
const SHIP_BATCH = 100;

/** How often the shipping sweep looks for due orders: a quarter of the delay, between 50 ms and 1 s. */
export function shippingIntervalMs(delayMs: number): number {
  return Math.min(1_000, Math.max(50, Math.floor(delayMs / 4)));
}

/**
 * Ships booked purchase orders once `SUPPLIER_DELAY_MS` has passed. The timer is durable — each order's
 * `ship_due_at` row — and a sweep claims due rows with FOR UPDATE SKIP LOCKED, marks them shipped and
 * appends DeliveryShipped to the outbox in one local transaction: a crash loses no shipment and ships
 * none twice, and replicas share the work. In-process timers only wake the sweep early.
 */
@Injectable()
export class ShippingService implements OnApplicationBootstrap, OnApplicationShutdown {
  readonly delayMs: number;
  private readonly loop: RecoveryLoop;
  private readonly wakers = new Set<NodeJS.Timeout>();

  constructor(
    @Inject(Database) private readonly db: Database,
    @Inject(SupplierRepository) private readonly repository: SupplierRepository,
    @Inject(Outbox) private readonly outbox: Outbox,
    @Inject(SERVICE_CONFIG) config: SupplierConfig,
    @Inject(ROOT_LOGGER) private readonly logger: Logger,
  ) {
    this.delayMs = config.env.SUPPLIER_DELAY_MS;
    this.loop = new RecoveryLoop('shipping', () => this.sweep(), shippingIntervalMs(this.delayMs), logger);
  }

  onApplicationBootstrap(): void {
    this.loop.start();
  }

  async onApplicationShutdown(): Promise<void> {
    for (const timer of this.wakers) clearTimeout(timer);
    this.wakers.clear();
    await this.loop.stop();
  }

  /** Wakes the sweep when an order just booked falls due (a hint; the sweep's interval is the guarantee). */
  wakeAt(due: Date): void {
    const timer = setTimeout(
      () => {
        this.wakers.delete(timer);
        void this.loop.runOnce().then(() => this.loop.runOnce());
      },
      Math.max(0, due.getTime() - Date.now()) + 10,
    );
    timer.unref();
    this.wakers.add(timer);
  }

  /** Ships every due order (in batches); returns how many it shipped. */
  async sweep(): Promise<number> {
    let shipped = 0;
    for (;;) {
      const count = await this.db.transaction(async (session) => {
        const due = await this.repository.claimDue(session, SHIP_BATCH);
        for (const order of due) {
          await this.repository.markShipped(
            session,
            order.purchaseOrderId,
            deliveryIdFor(order.purchaseOrderId),
          );
        }
        if (due.length > 0) {
          await this.outbox.append(
            session,
            due.map((order) => deliveryShippedEvent(order, order.gtid)),
          );
        }
        return due.length;
      });
      if (count === 0) break;
      this.outbox.notify();
      shipped += count;
      this.logger.info({ count }, 'purchase orders shipped');
      if (count < SHIP_BATCH) break;
    }
    return shipped;
  }
}
