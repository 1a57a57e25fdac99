// The reviewed mutants of `npm run mutation` (scripts/mutation.ts, docs/mutation.md). Each entry plants one
// defect a reviewer could miss: `find` (which must occur exactly once in the file) is replaced by `replace`,
// and the specs named must then fail. When the code changes and an entry no longer matches,
// `npm run mutation -- --check` names it: update its `find` to the new code (keeping the defect it plants),
// or remove it if the defect can no longer be written.
//
//
// The entries live in one file per area; spec sets and file names are declared once in
// mutation-spec-sets.ts.
import { MutantEntry } from './mutation-runner';
import { TWO_PHASE_COMMIT_MUTANTS } from './mutation-catalogue-2pc';
import { CORE_MUTANTS } from './mutation-catalogue-cores';
import { MESSAGING_MUTANTS } from './mutation-catalogue-messaging';

export const CATALOGUE: readonly MutantEntry[] = [
  ...TWO_PHASE_COMMIT_MUTANTS,
  ...MESSAGING_MUTANTS,
  ...CORE_MUTANTS,
];
