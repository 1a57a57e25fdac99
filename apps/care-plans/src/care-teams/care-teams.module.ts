import { Module } from '@nestjs/common';
import { CareTeamService } from './care-team.service';
import { EmrDirectory } from './emr-directory';

/** Care teams, their patient and practitioners checked against the EMR (the FHIR writer uses the service). */
@Module({
  providers: [EmrDirectory, CareTeamService],
  exports: [CareTeamService],
})
export class CareTeamsModule {}
