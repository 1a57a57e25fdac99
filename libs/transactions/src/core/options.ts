/** Throws a RangeError naming the first of `names` whose value in `options` is not a positive integer. */
export function assertPositiveIntegers<T extends object>(
  options: T,
  names: readonly (keyof T & string)[],
): void {
  for (const name of names) {
    const value = options[name];
    if (typeof value !== 'number' || !Number.isInteger(value) || value < 1)
      throw new RangeError(`${name} must be a positive integer`);
  }
}
