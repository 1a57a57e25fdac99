// Command-line parsing shared by `npm run bench` and `npm run faults`:
//   <scenario> [--name=<value>] ...   (also `--name <value>`)
// A bad command line is reported as one line on stderr and exit status 2, like any Unix tool.

/** A numeric option: its default and the range it must fall in. */
export interface NumericOption {
  readonly default: number;
  readonly min: number;
  readonly max: number;
  /** Whole numbers only (counts); durations may be fractional. */
  readonly integer: boolean;
  /** One line for `--help`. */
  readonly description: string;
}

/** A text option limited to a set of values; undefined when not given. */
export interface ChoiceOption {
  readonly choices: readonly string[];
  readonly description: string;
}

export interface CommandSpec<N extends string, C extends string = never> {
  /** The command's name as users type it after `npm run` (bench, faults). */
  readonly command: string;
  readonly scenarios: readonly string[];
  readonly numbers: Readonly<Record<N, NumericOption>>;
  readonly choices?: Readonly<Record<C, ChoiceOption>>;
  /** Defaults that differ for one scenario (an option not given takes its scenario's default first). */
  readonly scenarioDefaults?: Readonly<Record<string, Partial<Record<N, number>>>>;
}

export interface ParsedCommand<N extends string, C extends string = never> {
  scenario: string;
  numbers: Record<N, number>;
  choices: Partial<Record<C, string>>;
}

/** A command line that cannot be run; the message is the one line printed before exit 2. */
export class UsageError extends Error {}

/** The `--help` text. */
export function usage<N extends string, C extends string>(spec: CommandSpec<N, C>): string {
  const lines = [`usage: npm run ${spec.command} -- <scenario> [options]`, '', 'scenarios:'];
  for (const s of spec.scenarios) lines.push(`  ${s}`);
  lines.push('', 'options:');
  const scenarioDefaults: Record<string, Partial<Record<string, number>>> = spec.scenarioDefaults ?? {};
  for (const [name, option] of Object.entries<NumericOption>(spec.numbers)) {
    const others = Object.entries(scenarioDefaults)
      .filter(([, defaults]) => defaults[name] !== undefined)
      .map(([scenario, defaults]) => `; ${scenario}: ${defaults[name]}`)
      .join('');
    lines.push(`  --${name}=<n>`.padEnd(28) + `${option.description} (default ${option.default}${others})`);
  }
  const choices: Record<string, ChoiceOption> = spec.choices ?? {};
  for (const [name, option] of Object.entries(choices)) {
    lines.push(
      `  --${name}=<value>`.padEnd(28) + `${option.description} (one of: ${option.choices.join(', ')})`,
    );
  }
  return lines.join('\n');
}

function parseNumber(name: string, raw: string, option: NumericOption): number {
  const pattern = option.integer ? /^[+]?\d+$/ : /^[+]?(\d+(\.\d*)?|\.\d+)$/;
  const kind = option.integer ? 'a whole number' : 'a number';
  if (!pattern.test(raw.trim())) throw new UsageError(`--${name} must be ${kind}, got '${raw}'`);
  const value = Number(raw);
  if (!Number.isFinite(value) || value < option.min || value > option.max) {
    throw new UsageError(`--${name} must be between ${option.min} and ${option.max}, got '${raw}'`);
  }
  return value;
}

/**
 * Parses `argv` (without node and the script) against `spec`. Throws UsageError for an unknown or missing
 * scenario, an unknown option, a repeated option or a value out of range. Returns undefined for `--help`.
 */
export function parseCommand<N extends string, C extends string = never>(
  argv: readonly string[],
  spec: CommandSpec<N, C>,
): ParsedCommand<N, C> | undefined {
  const numbers = Object.fromEntries(
    Object.entries<NumericOption>(spec.numbers).map(([name, option]) => [name, option.default]),
  ) as Record<N, number>;
  const choices: Partial<Record<C, string>> = {};
  const choiceSpecs = (spec.choices ?? {}) as Record<string, ChoiceOption>;
  const seen = new Set<string>();
  let scenario: string | undefined;

  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--help' || arg === '-h') return undefined;
    if (!arg.startsWith('-')) {
      if (scenario !== undefined)
        throw new UsageError(`unexpected argument '${arg}' after scenario '${scenario}'`);
      if (!spec.scenarios.includes(arg)) {
        throw new UsageError(`unknown scenario '${arg}' (known: ${spec.scenarios.join(', ')})`);
      }
      scenario = arg;
      continue;
    }
    const match = /^--([a-z][a-z0-9-]*)(?:=(.*))?$/.exec(arg);
    if (!match) throw new UsageError(`malformed option '${arg}' (expected --name=value)`);
    const name = match[1];
    let raw = match[2];
    const isNumber = Object.prototype.hasOwnProperty.call(spec.numbers, name);
    const isChoice = Object.prototype.hasOwnProperty.call(choiceSpecs, name);
    if (!isNumber && !isChoice) {
      const known = [...Object.keys(spec.numbers), ...Object.keys(choiceSpecs)].map((n) => `--${n}`);
      throw new UsageError(`unknown option '--${name}' (known: ${known.join(', ')})`);
    }
    if (raw === undefined) {
      const next = argv[i + 1];
      if (next === undefined || next.startsWith('--')) throw new UsageError(`--${name} needs a value`);
      raw = next;
      i += 1;
    }
    if (seen.has(name)) throw new UsageError(`--${name} given twice`);
    seen.add(name);
    if (isNumber) {
      numbers[name as N] = parseNumber(name, raw, spec.numbers[name as N]);
    } else {
      const option = choiceSpecs[name];
      if (!option.choices.includes(raw)) {
        throw new UsageError(`--${name} must be one of ${option.choices.join(', ')}, got '${raw}'`);
      }
      choices[name as C] = raw;
    }
  }
  if (scenario === undefined) {
    throw new UsageError(`missing scenario (known: ${spec.scenarios.join(', ')}); try --help`);
  }
  const defaults: Partial<Record<N, number>> = spec.scenarioDefaults?.[scenario] ?? {};
  for (const name of Object.keys(defaults) as N[]) {
    const value = defaults[name];
    if (!seen.has(name) && value !== undefined) numbers[name] = value;
  }
  return { scenario, numbers, choices };
}

/**
 * `parseCommand` for an entry point: prints usage and exits 0 on `--help`, prints one line on stderr
 * and exits 2 on a bad command line.
 */
export function parseCommandOrExit<N extends string, C extends string = never>(
  argv: readonly string[],
  spec: CommandSpec<N, C>,
): ParsedCommand<N, C> {
  try {
    const parsed = parseCommand(argv, spec);
    if (parsed === undefined) {
      process.stdout.write(`${usage(spec)}\n`);
      process.exit(0);
    }
    return parsed;
  } catch (error) {
    if (error instanceof UsageError) {
      process.stderr.write(`${spec.command}: ${error.message}\n`);
      process.exit(2);
    }
    throw error;
  }
}
