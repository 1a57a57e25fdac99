import { DynamicModule, Module } from '@nestjs/common';
import { PostgresCapacityLedger } from '../adapters/postgres/postgres-capacity-ledger';
import { CapacityKind } from '../capacity/types';
import { CapacityController } from './capacity.controller';
import { CAPACITY_KINDS, CapacityService } from './capacity.service';

export interface CapacityOptions {
  /**
   * The kinds of resource this service offers, and the shape of each id; ids of any other kind are
   * refused with a 400. Absent: any `<kind>:<id>`.
   */
  kinds?: readonly CapacityKind[];
}

/**
 * Makes a service a participant of the treatment-plan reservations: `/api/capacity` (resources, saga
 * apply and release, TCC Try / Confirm / Cancel) over `PostgresCapacityLedger` in the service's own
 * database, which runs `capacityMigrations` and `tccBarrierMigrations`. Global, so a feature module can
 * inject `PostgresCapacityLedger` and register a resource in its own transaction (a slot with its row).
 */
@Module({})
export class CapacityModule {
  static forRoot(options: CapacityOptions = {}): DynamicModule {
    return {
      module: CapacityModule,
      global: true,
      controllers: [CapacityController],
      providers: [
        { provide: PostgresCapacityLedger, useValue: new PostgresCapacityLedger() },
        { provide: CAPACITY_KINDS, useValue: options.kinds ?? null },
        CapacityService,
      ],
      exports: [PostgresCapacityLedger, CapacityService],
    };
  }
}
