/**
 * fast-check parameters that replay a failure a property spec reported: set FC_SEED=<seed> (and
 * FC_PATH=<path> to go straight to the shrunk counterexample). Empty when FC_SEED is not set.
 */
export function replayParameters(): { seed?: number; path?: string; endOnFailure?: boolean } {
  const { FC_SEED, FC_PATH } = process.env;
  if (FC_SEED === undefined) return {};
  return { seed: Number(FC_SEED), ...(FC_PATH === undefined ? {} : { path: FC_PATH, endOnFailure: true }) };
}
