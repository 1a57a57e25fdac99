import { Module } from '@nestjs/common';
import type { ConsultCommit } from '../consult-commit.port';
import type { MeasurementMode } from '../consult-transaction-mode';
import { TwoPhaseConsultCommit } from './consult-commit.two-phase';
import { UncoordinatedConsultCommit } from './consult-commit.uncoordinated';

/** Provider token of the measurement modes' commits, by mode (none where they are not enabled). */
export const CONSULT_MEASUREMENT_COMMITS = Symbol('CONSULT_MEASUREMENT_COMMITS');
export type ConsultMeasurementCommits = Readonly<Partial<Record<MeasurementMode, ConsultCommit>>>;

/**
 * Measurement only: the consult completion's commits that `npm run bench -- 3pc` prices three-phase commit
 * against — two-phase commit and no protocol at all — imported where `CONSULT_MEASUREMENT_MODES=true`.
 */
@Module({
  providers: [
    TwoPhaseConsultCommit,
    UncoordinatedConsultCommit,
    {
      provide: CONSULT_MEASUREMENT_COMMITS,
      inject: [TwoPhaseConsultCommit, UncoordinatedConsultCommit],
      useFactory: (
        twoPhase: TwoPhaseConsultCommit,
        uncoordinated: UncoordinatedConsultCommit,
      ): ConsultMeasurementCommits => ({ '2pc': twoPhase, uncoordinated }),
    },
  ],
  exports: [CONSULT_MEASUREMENT_COMMITS],
})
export class ConsultMeasurementModule {}
