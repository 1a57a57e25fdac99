import type { CarePlan } from '@medplum/fhirtypes';
import type { PlanStatus } from './plan.entity';
import type { PlanInput } from './treatment-plan';

/** The identifier system of a plan's transaction: `CarePlan?identifier=urn:hospital:care-plans:gtid|<gtid>`. */
export const GTID_SYSTEM = 'urn:hospital:care-plans:gtid';

/** Each activity's `detail.status` while the plan is in each status. */
const ACTIVITY_STATUS = {
  draft: 'not-started',
  active: 'scheduled',
  revoked: 'cancelled',
} as const satisfies Record<PlanStatus, string>;

/**
 * The CarePlan stored for a plan in `status`: the client's plan under the plan's id, with that status, its
 * activities' statuses following it, the transaction's gtid as an identifier, and for a revoked plan a
 * note saying why (a step and a participant's answer: never patient data).
 */
export function planResource(
  input: PlanInput,
  gtid: string,
  status: PlanStatus,
  reason?: string,
): CarePlan & { id: string } {
  const { id: _id, meta: _meta, ...plan } = input.carePlan;
  const identifier = (plan.identifier ?? []).filter((i) => i.system !== GTID_SYSTEM);
  const note =
    status === 'revoked' ? [...(plan.note ?? []), { text: `Revoked: ${reason ?? 'not booked'}` }] : plan.note;
  return {
    ...plan,
    id: input.planId,
    status,
    identifier: [...identifier, { system: GTID_SYSTEM, value: gtid }],
    activity: plan.activity?.map((activity) =>
      activity.detail === undefined
        ? activity
        : { ...activity, detail: { ...activity.detail, status: ACTIVITY_STATUS[status] } },
    ),
    ...(note === undefined ? {} : { note }),
  };
}
