import { Inject, Injectable } from '@nestjs/common';
import type { CareTeam } from '@medplum/fhirtypes';
import type { Logger } from 'pino';
import { FhirResourceStore, type Stored } from '@hospital/fhir';
import { Database, ROOT_LOGGER } from '@hospital/platform';
import { careTeamRequestOf } from './care-team-request';
import { CareTeamErrorCode, CareTeamException } from './care-teams.exception';
import { EmrDirectory, type PersonType } from './emr-directory';

/**
 * Care teams: a patient and the practitioners who plan the patient's treatment. A team is stored only
 * once the EMR has confirmed that its patient and every practitioner exist; an unknown one is a 422 and
 * nothing is stored.
 */
@Injectable()
export class CareTeamService {
  constructor(
    @Inject(Database) private readonly db: Database,
    @Inject(FhirResourceStore) private readonly store: FhirResourceStore,
    @Inject(EmrDirectory) private readonly emr: EmrDirectory,
    @Inject(ROOT_LOGGER) private readonly logger: Logger,
  ) {}

  async create(team: CareTeam): Promise<Stored<CareTeam>> {
    const request = careTeamRequestOf(team);
    await Promise.all([
      this.assertKnown('Patient', request.patientId, 'CareTeam.subject'),
      ...request.practitionerIds.map((id) =>
        this.assertKnown('Practitioner', id, 'CareTeam.participant.member'),
      ),
    ]);
    const stored = await this.db.transaction((tx) => this.store.create(tx, team));
    this.logger.info({ careTeamId: stored.id, members: request.practitionerIds.length }, 'care team created');
    return stored;
  }

  private async assertKnown(type: PersonType, id: string, element: string): Promise<void> {
    let known: boolean;
    try {
      known = await this.emr.exists(type, id);
    } catch (error) {
      throw new CareTeamException(
        CareTeamErrorCode.EmrUnavailable,
        'The EMR could not be asked who the team names: nothing was stored, try again',
        [element],
        error,
      );
    }
    if (!known) {
      const code =
        type === 'Patient' ? CareTeamErrorCode.UnknownPatient : CareTeamErrorCode.UnknownPractitioner;
      // A practitioner's id is named; the patient's is not echoed (patient data stays out of answers and logs).
      const whom = type === 'Patient' ? 'such patient' : `Practitioner/${id}`;
      throw new CareTeamException(code, `The EMR has no ${whom}`, [element]);
    }
  }
}
