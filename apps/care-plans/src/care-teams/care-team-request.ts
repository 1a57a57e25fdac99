import type { CareTeam } from '@medplum/fhirtypes';
import { relativeId } from '../fhir/references';
import { CareTeamErrorCode, CareTeamException } from './care-teams.exception';

/** Who a CareTeam (valid FHIR R4) names: its patient and its practitioners. */
export interface CareTeamRequest {
  patientId: string;
  /** Distinct, in the order the team lists them. */
  practitionerIds: string[];
}

/**
 * Checks a CareTeam on its own: `subject` a `Patient/<id>`, at least one participant, each `member` a
 * `Practitioner/<id>` (the members a plan's consults may be performed by). A CareTeamException (400) names
 * the element otherwise; whether the patient and practitioners exist is for the EMR to say.
 */
export function careTeamRequestOf(team: CareTeam): CareTeamRequest {
  const patientId = relativeId(team.subject, 'Patient');
  if (patientId === undefined) {
    throw new CareTeamException(CareTeamErrorCode.SubjectRequired, 'subject must reference Patient/<id>', [
      'CareTeam.subject',
    ]);
  }
  const participants = team.participant ?? [];
  if (participants.length === 0) {
    throw new CareTeamException(
      CareTeamErrorCode.MemberRequired,
      'A CareTeam lists its practitioners as participant.member',
      ['CareTeam.participant'],
    );
  }
  const practitionerIds = participants.map((participant, index) => {
    const id = relativeId(participant.member, 'Practitioner');
    if (id === undefined) {
      throw new CareTeamException(
        CareTeamErrorCode.MemberRequired,
        'Every participant.member is a reference Practitioner/<id>',
        [`CareTeam.participant[${index}].member`],
      );
    }
    return id;
  });
  return { patientId, practitionerIds: [...new Set(practitionerIds)] };
}

/** The practitioners a stored CareTeam names as members (those its plans' consults may be performed by). */
export function membersOf(team: CareTeam): Set<string> {
  return new Set(
    (team.participant ?? []).flatMap((p) => {
      const id = relativeId(p.member, 'Practitioner');
      return id === undefined ? [] : [id];
    }),
  );
}
