import { Module } from '@nestjs/common';
import { THREE_PHASE_BRANCH_WORK, ThreePhaseCommitModule } from '@hospital/transactions';
import { consultFindingsBranchProvider } from './consult-findings.branch';

/** Takes part in telemedicine's consult completions (3PC): each branch files the findings in the chart. */
@Module({
  imports: [
    ThreePhaseCommitModule.forFeature({ participant: true }, [
      { provide: THREE_PHASE_BRANCH_WORK, ...consultFindingsBranchProvider },
    ]),
  ],
})
export class ConsultsModule {}
