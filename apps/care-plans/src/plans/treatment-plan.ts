import type { CarePlan } from '@medplum/fhirtypes';
import type { PlanRequest } from './plan-request';
import type { TransactionMode } from './transaction-mode';

/** The services that hold what a plan reserves, as the capacity contract names them. */
export type Participant = 'appointments' | 'pacs' | 'pharmacy';

/** The stages of a plan that reserve capacity, each at one participant. */
export type StageName = 'consults' | 'imaging' | 'regimen';

/** One unit count of one capacity resource a plan reserves. */
export interface Reservation {
  /** `slot:<slotId>`, `imaging:<modality>:<day>`, `drug:<code>@<location>`. */
  resource: string;
  units: number;
  /** Position of the activity in `CarePlan.activity`. */
  activity: number;
}

export interface PlanStage {
  name: StageName;
  participant: Participant;
  /** True for a stage of several reservations (consults): each one's key and branch end in `:<i>`. */
  many: boolean;
}

/**
 * The treatment plan, declared once for the three modes: the plan recorded as a draft (locally), then the
 * consults in appointments, the imaging in the PACS and the regimen's stock in the pharmacy's inventory,
 * then the plan activated — or, on any refusal, everything given back and the plan revoked. Each mode
 * (`plan-workflows.ts`) builds its saga or TCC workflow from these stages.
 */
export const PLAN_STAGES: readonly PlanStage[] = [
  { name: 'consults', participant: 'appointments', many: true },
  { name: 'imaging', participant: 'pacs', many: false },
  { name: 'regimen', participant: 'pharmacy', many: false },
];

/**
 * What a plan's transaction carries, whatever its mode; stored as JSON in the saga or TCC log, so a
 * recovering replica runs the same steps with the same input.
 */
export interface PlanInput {
  /** The CarePlan's id, minted before the transaction starts. */
  planId: string;
  mode: TransactionMode;
  careTeamId: string;
  /** The CarePlan as the client sent it (validated): each status of the plan is stored from it. */
  carePlan: CarePlan;
  reservations: Record<StageName, Reservation[]>;
}

/** Each stage's reservations: one slot per consult, one imaging day, the regimen's units of a drug. */
export function reservationsOf(request: PlanRequest): Record<StageName, Reservation[]> {
  const { imaging, regimen } = request;
  return {
    consults: request.consults.map((c) => ({ resource: `slot:${c.slotId}`, units: 1, activity: c.activity })),
    imaging:
      imaging === undefined
        ? []
        : [{ resource: `imaging:${imaging.modality}:${imaging.day}`, units: 1, activity: imaging.activity }],
    regimen:
      regimen === undefined
        ? []
        : [
            {
              resource: `drug:${regimen.drugCode}@${regimen.locationId}`,
              units: regimen.quantity,
              activity: regimen.activity,
            },
          ],
  };
}

/**
 * The name of a reservation within its plan: the stage, and for a stage of several its index
 * (`consults:0`, `imaging`). A saga's claim key is `<gtid>:<name>`, a TCC branch at the participant is
 * `<name>` (its claim key `<gtid>:<name>` too).
 */
export function reservationName(stage: PlanStage, index: number): string {
  return stage.many ? `${stage.name}:${index}` : stage.name;
}

/** `<gtid>:<stage>[:<i>]`, the key a participant makes a saga or quota reservation idempotent on. */
export function reservationKey(gtid: string, stage: PlanStage, index: number): string {
  return `${gtid}:${reservationName(stage, index)}`;
}
