import { Inject, Injectable } from '@nestjs/common';
import {
  environmentOf,
  SERVICE_CONFIG,
  serviceCredentials,
  type ServiceCredentials,
  ThreePhaseCommitEnvironment,
} from '@hospital/platform';
import { type BranchApplyBody, BranchApplyRoutes, callPeer, errorMessage } from '@hospital/transactions';
import type { TelemedicineConfig } from '../../config';
import type { ConsultBranch, ConsultCommit, ConsultParticipant } from '../consult-commit.port';
import { ConsultsErrorCode, ConsultsException } from '../consults.exception';

/**
 * Measurement only (`?_mode=uncoordinated`), NOT atomic: each participant applies its part in one local
 * transaction of its own (`POST /internal/branch/apply`, open where `TX_UNCOORDINATED_APPLY=true`), all
 * three called side by side over the same HTTP and validation path as the protocols, with no protocol at
 * all. A failure anywhere is reported and nothing is compensated: the parts that were applied stay. It is
 * the baseline `npm run bench -- 3pc` prices coordination against.
 */
@Injectable()
export class UncoordinatedConsultCommit implements ConsultCommit {
  private readonly urls: Readonly<Record<string, string>>;
  private readonly credentials: ServiceCredentials;
  private readonly timeoutMs: number;

  constructor(@Inject(SERVICE_CONFIG) config: TelemedicineConfig) {
    this.urls = config.peers;
    this.credentials = serviceCredentials(config);
    this.timeoutMs = environmentOf(config, ThreePhaseCommitEnvironment).TX_VOTE_TIMEOUT_MS;
  }

  async commit(gtid: string, branches: ConsultBranch[]): Promise<void> {
    const outcomes = await Promise.allSettled(branches.map((branch) => this.apply(gtid, branch)));
    const failed = outcomes.flatMap((outcome, i) =>
      outcome.status === 'rejected' ? [`${branches[i].participant}: ${errorMessage(outcome.reason)}`] : [],
    );
    if (failed.length === 0) return;
    const applied = branches.filter((_, i) => outcomes[i].status === 'fulfilled').map((b) => b.participant);
    throw new ConsultsException(
      ConsultsErrorCode.UncoordinatedFailed,
      `Uncoordinated consult completion ${gtid} failed in ${failed.join('; ')}; applied and kept in: ${applied.join(', ') || 'none'}`,
    );
  }

  private async apply(gtid: string, branch: ConsultBranch): Promise<void> {
    const participant: ConsultParticipant = branch.participant;
    const base = this.urls[participant];
    if (!base) throw new Error(`no URL configured for consult participant '${participant}'`);
    const body: BranchApplyBody = { gtid, payload: branch.payload };
    await callPeer(new URL(BranchApplyRoutes.apply, base).toString(), gtid, {
      body,
      timeoutMs: this.timeoutMs,
      headers: { authorization: this.credentials.authorization(participant) },
    });
  }
}
