import { FhirResourceStore, FhirValidator } from '@hospital/fhir';
import type { Session } from '@hospital/platform';
import { parseRecommendationPayload } from '../contracts/recommendation.contract';

/**
 * The referral inbox's branch of a consult completion: validates the recommendation (see the
 * recommendation contract) and keeps its `Communication` inside the branch's local transaction.
 * Idempotent: the Communication keeps the id telemedicine minted, and the same payload applied again
 * writes nothing; other content under that id is a 409.
 */
export class RecommendationBranch {
  constructor(
    private readonly store: FhirResourceStore,
    private readonly validator: FhirValidator,
  ) {}

  /** The branch step, in the shape of `BranchWork<Session>`. */
  readonly apply = async (tx: Session, payload: unknown, _gtid: string): Promise<void> => {
    const recommendation = parseRecommendationPayload(this.validator, payload);
    await this.store.createOnce(tx, recommendation.communication);
  };
}

/** The referral inbox's recommendation branch step (a `BranchWork<Session>`). */
export function recommendationBranch(
  store: FhirResourceStore,
  validator: FhirValidator,
): (tx: Session, payload: unknown, gtid: string) => Promise<void> {
  return new RecommendationBranch(store, validator).apply;
}

/**
 * Nest provider recipe of the referral inbox's branch step:
 * `{ provide: THREE_PHASE_BRANCH_WORK, ...recommendationBranchProvider }`.
 */
export const recommendationBranchProvider = {
  inject: [FhirResourceStore, FhirValidator],
  useFactory: recommendationBranch,
};
