import { Inject, Injectable } from '@nestjs/common';
import type { CareTeam } from '@medplum/fhirtypes';
import { FhirException, FhirResourceStore } from '@hospital/fhir';
import { Database } from '@hospital/platform';
import { membersOf } from '../care-teams/care-team-request';
import { relativeId } from '../fhir/references';
import { CapacityClient } from './capacity.client';
import type { PlanRequest } from './plan-request';
import { PlanErrorCode, PlanException } from './plans.exception';
import { PLAN_STAGES, type Reservation, type StageName } from './treatment-plan';

/**
 * What a plan must satisfy before anything is reserved: its care team exists here and is the patient's,
 * every consult is performed by a member of it, and every participant offers the resource each activity
 * takes (a slot, an imaging day of a modality, a drug at a location). Each refusal is a 422 naming the
 * element; a participant that cannot be asked is a 503. Nothing is written by a check.
 */
@Injectable()
export class PlanChecks {
  constructor(
    @Inject(Database) private readonly db: Database,
    @Inject(FhirResourceStore) private readonly store: FhirResourceStore,
    @Inject(CapacityClient) private readonly capacity: CapacityClient,
  ) {}

  async assertBookable(request: PlanRequest, reservations: Record<StageName, Reservation[]>): Promise<void> {
    await this.assertTeam(request);
    await this.assertOffered(reservations);
  }

  private async assertTeam(request: PlanRequest): Promise<void> {
    let team: CareTeam;
    try {
      team = await this.store.read<CareTeam>(this.db, 'CareTeam', request.careTeamId);
    } catch (error) {
      if (!(error instanceof FhirException) || (error.status !== 404 && error.status !== 410)) throw error;
      throw new PlanException(PlanErrorCode.UnknownCareTeam, `No CareTeam/${request.careTeamId}`, [
        'CarePlan.careTeam',
      ]);
    }
    if (relativeId(team.subject, 'Patient') !== request.patientId) {
      throw new PlanException(
        PlanErrorCode.CareTeamMismatch,
        `CareTeam/${request.careTeamId} is another patient's care team`,
        ['CarePlan.subject', 'CarePlan.careTeam'],
      );
    }
    const members = membersOf(team);
    for (const consult of request.consults) {
      if (!members.has(consult.performerId)) {
        throw new PlanException(
          PlanErrorCode.PerformerNotMember,
          `Practitioner/${consult.performerId} is not a member of CareTeam/${request.careTeamId}`,
          [`CarePlan.activity[${consult.activity}].detail.performer`],
        );
      }
    }
  }

  private async assertOffered(reservations: Record<StageName, Reservation[]>): Promise<void> {
    const lookups = PLAN_STAGES.flatMap((stage) =>
      reservations[stage.name].map(async (r) => ({
        reservation: r,
        found: await this.capacity.lookup(stage.participant, r.resource),
      })),
    );
    const settled = await Promise.allSettled(lookups);
    const unknown: Reservation[] = [];
    for (const outcome of settled) {
      if (outcome.status === 'rejected') {
        throw new PlanException(
          PlanErrorCode.ParticipantUnavailable,
          'A participant could not be asked whether it offers what the plan takes: nothing was reserved, try again',
          [],
          outcome.reason,
        );
      }
      if (outcome.value.found === 'unknown') unknown.push(outcome.value.reservation);
    }
    if (unknown.length > 0) {
      throw new PlanException(
        PlanErrorCode.UnknownResource,
        `Not offered by its participant: ${unknown.map((r) => r.resource).join(', ')}`,
        unknown.map((r) => `CarePlan.activity[${r.activity}]`),
      );
    }
  }
}
