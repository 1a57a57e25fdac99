/** Provider token of a 3PC participant's business step (a `BranchWork<Session>`, as in 2PC). */
export const THREE_PHASE_BRANCH_WORK = Symbol('THREE_PHASE_BRANCH_WORK');
