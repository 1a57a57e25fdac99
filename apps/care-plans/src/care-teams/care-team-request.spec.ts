import type { CareTeam } from '@medplum/fhirtypes';
import { careTeamExample } from '../testing/care-plan-examples';
import { careTeamRequestOf, membersOf } from './care-team-request';
import { CareTeamErrorCode, CareTeamException } from './care-teams.exception';

function refusal(team: CareTeam): { code: string; status: number; expression: readonly string[] } {
  try {
    careTeamRequestOf(team);
  } catch (error) {
    if (error instanceof CareTeamException)
      return { code: error.code, status: error.status, expression: error.expression };
    throw error;
  }
  throw new Error('the team was accepted');
}

describe('careTeamRequestOf', () => {
  it('reads the patient and the distinct practitioners', () => {
    expect(careTeamRequestOf(careTeamExample('pat-1', ['prac-1', 'prac-2', 'prac-1']))).toEqual({
      patientId: 'pat-1',
      practitionerIds: ['prac-1', 'prac-2'],
    });
  });

  it.each([
    [
      'no subject',
      { ...careTeamExample('p', ['a']), subject: undefined },
      CareTeamErrorCode.SubjectRequired,
      'CareTeam.subject',
    ],
    [
      'a group as subject',
      { ...careTeamExample('p', ['a']), subject: { reference: 'Group/g' } },
      CareTeamErrorCode.SubjectRequired,
      'CareTeam.subject',
    ],
    ['no participant', careTeamExample('p', []), CareTeamErrorCode.MemberRequired, 'CareTeam.participant'],
    [
      'an organization as member',
      {
        ...careTeamExample('p', ['a']),
        participant: [
          { member: { reference: 'Practitioner/a' } },
          { member: { reference: 'Organization/o' } },
        ],
      },
      CareTeamErrorCode.MemberRequired,
      'CareTeam.participant[1].member',
    ],
  ])('refuses %s with a 400', (_what, team, code, element) => {
    expect(refusal(team)).toEqual({ code, status: 400, expression: [element] });
  });

  it('finds the practitioner members of a stored team', () => {
    const team: CareTeam = {
      ...careTeamExample('p', ['a', 'b']),
      participant: [
        { member: { reference: 'Practitioner/a' } },
        { member: { reference: 'Organization/o' } },
        { member: { reference: 'Practitioner/b' } },
      ],
    };
    expect([...membersOf(team)]).toEqual(['a', 'b']);
  });
});
