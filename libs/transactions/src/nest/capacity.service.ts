import { Inject, Injectable } from '@nestjs/common';
import { Database } from '@hospital/platform';
import { UnknownResourceError } from '../capacity/errors';
import {
  assertResourceId,
  CapacityClaim,
  CapacityKind,
  CapacityLevel,
  SagaApplied,
  SagaApplyRequest,
  SagaReleased,
  SagaReleaseRequest,
  TccBranchRequest,
  TccHeld,
  TccSettled,
  TccTryRequest,
} from '../capacity/types';
import { PostgresCapacityLedger } from '../adapters/postgres/postgres-capacity-ledger';

/** Provider token of the resource kinds the service offers (`CapacityModule.forRoot({ kinds })`). */
export const CAPACITY_KINDS = Symbol('CAPACITY_KINDS');

/**
 * The participant's capacity calls, each one local transaction on the service's database: the claim, the
 * level and (for TCC) the barrier row commit together, or nothing does. Resource ids of a kind the service
 * does not offer are refused before the database is asked.
 */
@Injectable()
export class CapacityService {
  constructor(
    @Inject(Database) private readonly db: Database,
    @Inject(PostgresCapacityLedger) private readonly ledger: PostgresCapacityLedger,
    @Inject(CAPACITY_KINDS) private readonly kinds: readonly CapacityKind[] | null,
  ) {}

  async level(resource: string): Promise<CapacityLevel> {
    const level = await this.ledger.get(this.db, this.offered(resource));
    if (level === undefined) throw new UnknownResourceError(resource);
    return level;
  }

  setCapacity(resource: string, capacity: number): Promise<{ level: CapacityLevel; created: boolean }> {
    const id = this.offered(resource);
    return this.db.transaction((tx) => this.ledger.setCapacity(tx, id, capacity));
  }

  claims(gtid: string): Promise<CapacityClaim[]> {
    return this.ledger.claims(this.db, gtid);
  }

  sagaApply(request: SagaApplyRequest): Promise<SagaApplied> {
    this.offered(request.resource);
    return this.db.transaction((tx) => this.ledger.sagaApply(tx, request));
  }

  sagaRelease(request: SagaReleaseRequest): Promise<SagaReleased> {
    return this.db.transaction((tx) => this.ledger.sagaRelease(tx, request));
  }

  tccTry(request: TccTryRequest): Promise<TccHeld> {
    this.offered(request.resource);
    return this.db.transaction((tx) => this.ledger.tccTry(tx, request));
  }

  tccConfirm(request: TccBranchRequest): Promise<TccSettled> {
    return this.db.transaction((tx) => this.ledger.tccConfirm(tx, request));
  }

  tccCancel(request: TccBranchRequest): Promise<TccSettled> {
    return this.db.transaction((tx) => this.ledger.tccCancel(tx, request));
  }

  private offered(resource: string): string {
    return assertResourceId(resource, this.kinds ?? undefined);
  }
}
