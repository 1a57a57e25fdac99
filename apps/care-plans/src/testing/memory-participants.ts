import type { NewOutboxEvent, SagaReleaseRequest, TccTryRequest } from '@hospital/transactions';
import {
  type BranchRequest,
  type CapacityPort,
  type ClaimRequest,
  ParticipantRefusedError,
  type PlanLedgerPort,
  PlanRevokedError,
  type QuotaKeyRequest,
  type QuotaReservation,
} from '../plans/plan-ports';
import type { PlanStatus } from '../plans/plan.entity';
import type { Participant, PlanInput } from '../plans/treatment-plan';

interface Level {
  capacity: number;
  taken: number;
  held: number;
  reserved: number;
}

/** `committed`: a quota reservation held for its completion (no longer expires). */
type ClaimState = 'applied' | 'held' | 'reserved' | 'committed' | 'released';

interface Claim {
  resource?: string;
  units: number;
  state: ClaimState;
}

/**
 * The three participants' capacity in memory, keeping the capacity contract: claims idempotent per key
 * (TCC: per `<gtid>:<branch>`), a release or cancel first leaves a tombstone that refuses the late claim,
 * and a claim beyond what is available is refused (409). `calls` records every call for the specs.
 */
export class MemoryCapacity implements CapacityPort {
  readonly levels = new Map<string, Level>();
  readonly claims = new Map<string, Claim>();
  readonly calls: string[] = [];
  /** Called before each call: throw to make it fail (`(op, key) => …`). */
  failing: (op: string, key: string) => void = () => undefined;

  offer(participant: Participant, resource: string, capacity: number): this {
    this.levels.set(`${participant}|${resource}`, { capacity, taken: 0, held: 0, reserved: 0 });
    return this;
  }

  level(participant: Participant, resource: string): Level {
    const level = this.levels.get(`${participant}|${resource}`);
    if (level === undefined) throw new Error(`no ${resource} at ${participant}`);
    return level;
  }

  /** Units taken, held or reserved anywhere (0 once a plan gave everything back). */
  outstanding(): { taken: number; held: number; reserved: number } {
    const sum = { taken: 0, held: 0, reserved: 0 };
    for (const l of this.levels.values()) {
      sum.taken += l.taken;
      sum.held += l.held;
      sum.reserved += l.reserved;
    }
    return sum;
  }

  sagaApply(participant: Participant, r: ClaimRequest): Promise<void> {
    return this.claim(participant, 'saga.apply', r.key, r.resource, r.units, 'applied', 'taken');
  }

  sagaRelease(participant: Participant, r: SagaReleaseRequest): Promise<void> {
    return this.release(participant, 'saga.release', r.key);
  }

  async quotaReserve(participant: Participant, r: ClaimRequest): Promise<QuotaReservation> {
    await this.claim(participant, 'quota.reserve', r.key, r.resource, r.units, 'reserved', 'reserved');
    return { key: r.key, resource: r.resource, units: r.units, epoch: 'e7' };
  }

  quotaRelease(participant: Participant, r: QuotaKeyRequest): Promise<void> {
    return this.release(participant, 'quota.release', r.key);
  }

  quotaHold(participant: Participant, r: QuotaKeyRequest): Promise<void> {
    return this.step('quota.hold', r.key, () => {
      const claim = this.claims.get(r.key);
      if (claim === undefined || claim.state === 'released')
        throw new ParticipantRefusedError(participant, 409, `${r.key} expired or released`);
      claim.state = 'committed';
    });
  }

  tccTry(participant: Participant, r: TccTryRequest): Promise<void> {
    return this.claim(participant, 'tcc.try', `${r.gtid}:${r.branch}`, r.resource, r.units, 'held', 'held');
  }

  tccConfirm(participant: Participant, r: BranchRequest): Promise<void> {
    const key = `${r.gtid}:${r.branch}`;
    return this.step('tcc.confirm', key, () => {
      const claim = this.claims.get(key);
      if (claim?.state === 'applied') return;
      if (claim?.state !== 'held' || claim.resource === undefined)
        throw new Error(`confirm of ${key} without a hold`);
      const level = this.level(participant, claim.resource);
      level.held -= claim.units;
      level.taken += claim.units;
      claim.state = 'applied';
    });
  }

  tccCancel(participant: Participant, r: BranchRequest): Promise<void> {
    return this.release(participant, 'tcc.cancel', `${r.gtid}:${r.branch}`);
  }

  private claim(
    participant: Participant,
    op: string,
    key: string,
    resource: string,
    units: number,
    state: ClaimState,
    column: 'taken' | 'held' | 'reserved',
  ): Promise<void> {
    return this.step(op, key, () => {
      const claim = this.claims.get(key);
      if (claim?.state === 'released')
        throw new ParticipantRefusedError(participant, 409, `${key} was released`);
      if (claim !== undefined) return;
      const level = this.level(participant, resource);
      if (level.capacity - level.taken - level.held - level.reserved < units)
        throw new ParticipantRefusedError(participant, 409, `fewer than ${units} of ${resource}`);
      level[column] += units;
      this.claims.set(key, { resource, units, state });
    });
  }

  private release(participant: Participant, op: string, key: string): Promise<void> {
    return this.step(op, key, () => {
      const claim = this.claims.get(key);
      if (claim === undefined) {
        this.claims.set(key, { units: 0, state: 'released' });
        return;
      }
      if (claim.state === 'released' || claim.resource === undefined) return;
      const level = this.level(participant, claim.resource);
      if (claim.state === 'applied') level.taken -= claim.units;
      else if (claim.state === 'held') level.held -= claim.units;
      else level.reserved -= claim.units;
      claim.state = 'released';
    });
  }

  private async step(op: string, key: string, work: () => void): Promise<void> {
    await Promise.resolve();
    this.calls.push(`${op} ${key}`);
    this.failing(op, key);
    work();
  }
}

/** The plan ledger in memory, with the same rules as PlanLedger's rows. */
export class MemoryLedger implements PlanLedgerPort {
  readonly plans = new Map<
    string,
    { gtid: string; status: PlanStatus; reason?: string; events: NewOutboxEvent[] }
  >();
  /** Called before each activation: throw to make it fail. */
  failingActivation: () => void = () => undefined;

  async recordDraft(input: PlanInput, gtid: string): Promise<void> {
    await Promise.resolve();
    const plan = this.plans.get(input.planId);
    if (plan === undefined) this.plans.set(input.planId, { gtid, status: 'draft', events: [] });
    else if (plan.status === 'revoked') throw new PlanRevokedError(input.planId);
  }

  async activate(input: PlanInput, _gtid: string, events: readonly NewOutboxEvent[]): Promise<void> {
    await Promise.resolve();
    this.failingActivation();
    const plan = this.plans.get(input.planId);
    if (plan === undefined || plan.status === 'revoked') throw new Error('cannot activate');
    if (plan.status === 'active') return;
    plan.status = 'active';
    plan.events.push(...events);
  }

  async revoke(input: PlanInput, gtid: string, reason: string | undefined): Promise<void> {
    await Promise.resolve();
    const plan = this.plans.get(input.planId);
    if (plan?.status === 'active') throw new Error('cannot revoke an active plan');
    this.plans.set(input.planId, {
      gtid,
      status: 'revoked',
      events: [],
      ...(reason === undefined ? {} : { reason }),
    });
  }

  async assertNotActive(input: PlanInput): Promise<void> {
    await Promise.resolve();
    if (this.plans.get(input.planId)?.status === 'active') throw new Error('active');
  }
}
