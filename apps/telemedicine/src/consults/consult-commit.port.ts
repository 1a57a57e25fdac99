/**
 * The consult completion's atomic commit, as the completion service sees it: one global transaction
 * (`gtid`, minted by telemedicine) applying each branch in its participant — the EMR, telemedicine itself
 * and the referring site's recommendation inbox — all or none. Implemented by the transaction protocol
 * (three-phase commit); `commit` resolves once committed, or throws `TransactionAbortedError` (nothing
 * applied anywhere) or `OutcomeUnknownError` (recovery settles it) from `@hospital/transactions`.
 */
export const CONSULT_COMMIT = Symbol('CONSULT_COMMIT');

/** The participants of a consult completion. */
export const CONSULT_PARTICIPANTS = ['emr', 'telemedicine', 'referral-inbox'] as const;
export type ConsultParticipant = (typeof CONSULT_PARTICIPANTS)[number];

/** One participant's part: the payload its branch step validates and applies. */
export interface ConsultBranch {
  participant: ConsultParticipant;
  payload: unknown;
}

/** Commits a consult completion's branches as one global transaction. */
export interface ConsultCommit {
  commit(gtid: string, branches: ConsultBranch[], correlationId?: string): Promise<void>;
}
