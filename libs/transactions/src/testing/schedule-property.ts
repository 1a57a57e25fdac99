import fc from 'fast-check';

/**
 * A random schedule for a property spec's world: 10 to `maxLength` steps, each drawn from the step kinds
 * whose weight is above zero, in proportion to it.
 */
export function weightedSchedule<K extends string, S>(
  arbitraries: Record<K, fc.Arbitrary<S>>,
  weights: Record<K, number>,
  maxLength: number,
): fc.Arbitrary<S[]> {
  const choices: fc.WeightedArbitrary<S>[] = (Object.keys(weights) as K[])
    .filter((kind) => weights[kind] > 0)
    .map((kind) => ({ arbitrary: arbitraries[kind], weight: weights[kind] }));
  return fc.array(fc.oneof(...choices), { minLength: 10, maxLength, size: 'max' });
}

/** The error a property spec throws: what failed, the problems, and the last 80 steps of the run's trace. */
export function scheduleFailure(trace: readonly string[], what: string, problems: string[]): Error {
  const tail = trace.slice(-80).join('\n  ');
  return new Error(`${what}:\n  ${problems.join('\n  ')}\n--- trace (last steps)\n  ${tail}`);
}
