import {
  defineSaga,
  defineTcc,
  StepRefusedError,
  type SagaStep,
  type SagaWorkflow,
  type QuotaParticipant,
  type QuotaSagaStep,
  type TccParticipant,
  type TccWorkflow,
} from '@hospital/transactions';
import {
  type CapacityPort,
  ParticipantRefusedError,
  type PlanLedgerPort,
  PlanRevokedError,
  type RevocationReasons,
} from './plan-ports';
import {
  type Participant,
  PLAN_STAGES,
  type PlanInput,
  type PlanStage,
  reservationKey,
  reservationName,
} from './treatment-plan';
import type { TransactionMode } from './transaction-mode';

/** What the workflows call: the plan's own record, the participants, and the logs' reasons for revoking. */
export interface PlanWorkflowDeps {
  ledger: PlanLedgerPort;
  capacity: CapacityPort;
  sagaReasons: RevocationReasons;
  tccReasons: RevocationReasons;
}

/**
 * Attempts of the activation step: as good as unbounded. The activation is local and idempotent by gtid;
 * it only fails while this service's own database does (and then the saga log fails with it), so it is
 * retried until it commits and never turns the saga to compensation.
 */
export const ACTIVATION_ATTEMPTS = 1_000_000;

/** Workflow names, one per mode; a change of steps is deployed under a new version. */
export const PLAN_WORKFLOW_NAMES: Record<Exclude<TransactionMode, 'quota-saga'>, string> = {
  saga: 'treatment-plan.saga.v1',
  tcc: 'treatment-plan.tcc.v1',
};

/** Runs every call and waits for all of them (none left in flight), then rejects with the first failure. */
async function settleAll<T>(calls: readonly Promise<T>[]): Promise<T[]> {
  const settled = await Promise.allSettled(calls);
  const failed = settled.find((s): s is PromiseRejectedResult => s.status === 'rejected');
  if (failed !== undefined) throw failed.reason;
  return settled.map((s) => (s as PromiseFulfilledResult<T>).value);
}

/** A participant's refusal (and a plan revoked under a late step) fails the saga step for good. */
async function refusing<T>(work: Promise<T>): Promise<T> {
  try {
    return await work;
  } catch (error) {
    if (error instanceof ParticipantRefusedError || error instanceof PlanRevokedError)
      throw new StepRefusedError(error.message);
    throw error;
  }
}

/** Calls `call` for each reservation of `stage` in `input`, with its index, side by side. */
function eachReservation<T>(
  input: PlanInput,
  stage: PlanStage,
  call: (reservation: PlanInput['reservations'][PlanStage['name']][number], index: number) => Promise<T>,
): Promise<T[]> {
  return settleAll(input.reservations[stage.name].map((r, i) => call(r, i)));
}

/** The plan recorded as a draft; compensated by revoking it. Shared by both saga modes. */
function draftStep({ ledger, sagaReasons }: PlanWorkflowDeps): SagaStep<PlanInput> {
  return {
    name: 'plan',
    action: async (input, { gtid }) => {
      await refusing(ledger.recordDraft(input, gtid));
      return { planId: input.planId };
    },
    compensate: async (input, { gtid }) => ledger.revoke(input, gtid, await sagaReasons(gtid)),
  };
}

/** The plan made active; never undone once it committed. */
function activationStep({ ledger }: PlanWorkflowDeps): SagaStep<PlanInput> {
  return {
    name: 'activate',
    attempts: ACTIVATION_ATTEMPTS,
    action: async (input, { gtid }) => {
      await ledger.activate(input, gtid, []);
      return { planId: input.planId, status: 'active' };
    },
    // Only reached if the step were ever failed: refuses (and keeps the saga compensating, visibly)
    // rather than give back reservations of a plan whose activation committed.
    compensate: (input, { gtid }) => ledger.assertNotActive(input, gtid),
  };
}

/**
 * Standard saga: each stage applies its reservations at its participant at once (`/saga/apply`, keys
 * `<gtid>:<stage>[:<i>]`) and releases them as its compensation (`/saga/release`).
 */
export function sagaWorkflow(deps: PlanWorkflowDeps): SagaWorkflow<PlanInput> {
  const { capacity } = deps;
  return defineSaga<PlanInput>(PLAN_WORKFLOW_NAMES.saga, [
    draftStep(deps),
    ...PLAN_STAGES.map((stage): SagaStep<PlanInput> => ({
      name: stage.name,
      action: async (input, { gtid }) => ({
        keys: await refusing(
          eachReservation(input, stage, async (r, i) => {
            const key = reservationKey(gtid, stage, i);
            await capacity.sagaApply(stage.participant, { key, gtid, resource: r.resource, units: r.units });
            return key;
          }),
        ),
      }),
      compensate: async (input, { gtid }) => {
        await eachReservation(input, stage, (_r, i) =>
          capacity.sagaRelease(stage.participant, { key: reservationKey(gtid, stage, i), gtid }),
        );
      },
    })),
    activationStep(deps),
  ]);
}

/**
 * Quota-cached saga: one reservation per consult, the imaging day and the regimen, each in its
 * participant's quota cache (`/quota/reserve`, `hold`, `release`: no main-database row changes), run by
 * the library's QuotaSagaCoordinator — side by side, then held, then the plan activated with one
 * QuotaReservationsCompleted event per participant in one local transaction with its log.
 */
export function quotaSteps(input: PlanInput): QuotaSagaStep[] {
  return PLAN_STAGES.flatMap((stage) =>
    input.reservations[stage.name].map((r, i) => ({
      participant: stage.participant,
      step: reservationName(stage, i),
      resource: r.resource,
      units: r.units,
    })),
  );
}

/** The participants' quota routes as the coordinator calls them: a 4xx is a refusal, anything else transient. */
export function quotaParticipants(capacity: CapacityPort): Record<Participant, QuotaParticipant> {
  const of = (participant: Participant): QuotaParticipant => ({
    reserve: async ({ key, gtid, resource, units }) => {
      try {
        const r = await capacity.quotaReserve(participant, { key, gtid, resource, units });
        return { outcome: 'reserved', epoch: r.epoch };
      } catch (error) {
        if (error instanceof ParticipantRefusedError) return { outcome: 'refused', reason: error.message };
        throw error;
      }
    },
    hold: async ({ key, resource }) => {
      try {
        await capacity.quotaHold(participant, { key, gtid: gtidOf(key), resource });
        return 'held';
      } catch (error) {
        if (error instanceof ParticipantRefusedError) return 'refused';
        throw error;
      }
    },
    release: ({ key, resource }) => capacity.quotaRelease(participant, { key, gtid: gtidOf(key), resource }),
  });
  return { appointments: of('appointments'), pacs: of('pacs'), pharmacy: of('pharmacy') };
}

/** The gtid of a reservation key (`<gtid>:<name>`; a gtid holds no colon of its own here, it is a UUID). */
const gtidOf = (key: string) => key.slice(0, key.indexOf(':'));

/**
 * TCC: the plan is a branch of its own (Try records the draft, Confirm activates it, Cancel revokes it),
 * beside one branch per stage whose Try holds each reservation at the participant (`/tcc/try`, participant
 * branch `<stage>[:<i>]`), Confirm applies it and Cancel releases it. The coordinator's decision settles
 * the plan's status with the reservations, and its recovery finishes both after any crash.
 */
export function tccWorkflow(deps: PlanWorkflowDeps): TccWorkflow<PlanInput> {
  const { ledger, capacity, tccReasons } = deps;
  const plan: TccParticipant<PlanInput> = {
    name: 'plan',
    try: (input, { gtid }) => ledger.recordDraft(input, gtid),
    confirm: (input, { gtid }) => ledger.activate(input, gtid, []),
    cancel: async (input, { gtid }) => ledger.revoke(input, gtid, await tccReasons(gtid)),
  };
  const stages = PLAN_STAGES.map((stage): TccParticipant<PlanInput> => ({
    name: stage.name,
    try: (input, { gtid }) =>
      eachReservation(input, stage, (r, i) =>
        capacity.tccTry(stage.participant, {
          gtid,
          branch: reservationName(stage, i),
          resource: r.resource,
          units: r.units,
        }),
      ),
    confirm: async (input, { gtid }) => {
      await eachReservation(input, stage, (_r, i) =>
        capacity.tccConfirm(stage.participant, { gtid, branch: reservationName(stage, i) }),
      );
    },
    cancel: async (input, { gtid }) => {
      await eachReservation(input, stage, (_r, i) =>
        capacity.tccCancel(stage.participant, { gtid, branch: reservationName(stage, i) }),
      );
    },
  }));
  return defineTcc<PlanInput>(PLAN_WORKFLOW_NAMES.tcc, [plan, ...stages]);
}
