import { Inject, Injectable } from '@nestjs/common';
import {
  THREE_PHASE_BRANCH_WORK,
  ThreePhaseCommitModule,
  ThreePhaseCoordinator,
} from '@hospital/transactions';
import { CONSULT_PARTICIPANTS, type ConsultBranch, type ConsultCommit } from './consult-commit.port';
import { consultRecordBranchProvider } from './consult-record.branch';
import type { ConsultCommitBinding } from './consults.module';

/**
 * The consult completion over three-phase commit: telemedicine coordinates, and takes part with its own
 * consult record beside the EMR's chart and the referring site's inbox. Resolves once committed; throws
 * `TransactionAbortedError` or `OutcomeUnknownError` as the coordinator does.
 */
@Injectable()
export class ThreePhaseConsultCommit implements ConsultCommit {
  constructor(@Inject(ThreePhaseCoordinator) private readonly coordinator: ThreePhaseCoordinator) {}

  async commit(gtid: string, branches: ConsultBranch[], correlationId?: string): Promise<void> {
    await this.coordinator.execute({ gtid, branches, ...(correlationId ? { correlationId } : {}) });
  }
}

/** `CONSULT_COMMIT` over 3PC, with the module that brings the coordinator and telemedicine's own branch. */
export const THREE_PHASE_CONSULT_COMMIT: ConsultCommitBinding = {
  imports: [
    ThreePhaseCommitModule.forFeature({ participants: [...CONSULT_PARTICIPANTS], participant: true }, [
      { provide: THREE_PHASE_BRANCH_WORK, ...consultRecordBranchProvider },
    ]),
  ],
  useClass: ThreePhaseConsultCommit,
};
