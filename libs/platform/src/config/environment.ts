import { plainToInstance } from 'class-transformer';
import { getMetadataStorage, validateSync } from 'class-validator';

/** A configuration problem found at boot; its message names every variable at fault. */
export class ConfigError extends Error {}

/**
 * One piece of a service's environment: a class whose fields are the variables it reads, each with its
 * validation and default (see `environment-pieces.ts`). A service's configuration is composed of the
 * pieces it uses, so a variable is validated only in the services that read it.
 */
export type EnvironmentPiece<T extends object = object> = new () => T;

type UnionToIntersection<U> = (U extends unknown ? (u: U) => void : never) extends (i: infer I) => void
  ? I
  : never;

/** The environment a list of pieces reads: every piece's fields at once. */
export type EnvironmentOf<P extends readonly EnvironmentPiece[]> = UnionToIntersection<
  InstanceType<P[number]>
>;

/** Parses a numeric variable; anything else is left for the validator to refuse. */
export const toInt = ({ value }: { value: unknown }): unknown =>
  typeof value === 'string' && value.trim() !== '' ? Number(value) : value;

const SECRET_VARIABLE = /SECRET|PASSWORD|PRIVATE_KEY|KEY_SEED/;

/** The variables of `env` that are set (an empty value counts as unset, so the default applies). */
export function definedVariables(env: NodeJS.ProcessEnv): Record<string, string> {
  return Object.fromEntries(
    Object.entries(env).filter(
      (entry): entry is [string, string] => entry[1] !== undefined && entry[1] !== '',
    ),
  );
}

/** One line of a ConfigError: the variable, its value (never a secret's), and what is wrong with it. */
export function problemLine(variable: string, value: unknown, problem: string): string {
  // A secret's value is never echoed, not even a wrong one: the message reaches logs.
  const shown = SECRET_VARIABLE.test(variable) ? '(hidden)' : JSON.stringify(value);
  return `  ${variable}=${shown}: ${problem}`;
}

/** The variables a piece declares (every field carries at least one validation decorator). */
export function pieceVariables(piece: EnvironmentPiece): string[] {
  const metadata = getMetadataStorage().getTargetValidationMetadatas(piece, '', true, false);
  return [...new Set(metadata.map((m) => m.propertyName))];
}

/** Reads `env` into each piece and returns the instances, and one line per invalid variable. */
export function readPieces(
  pieces: readonly EnvironmentPiece[],
  env: NodeJS.ProcessEnv,
): { instances: object[]; problems: string[] } {
  const defined = definedVariables(env);
  const problems = new Map<string, string>();
  const instances = pieces.map((piece) => {
    // Each piece sees only its own variables, so merging the pieces cannot overwrite a parsed value.
    const own = Object.fromEntries(
      pieceVariables(piece).flatMap((name) => (name in defined ? [[name, defined[name]]] : [])),
    );
    const instance = plainToInstance(piece, { ...new piece(), ...own }, { exposeDefaultValues: true });
    for (const e of validateSync(instance, { whitelist: false, forbidUnknownValues: false })) {
      // A variable two pieces share (one extending the other) is reported once.
      problems.set(
        e.property,
        problemLine(
          e.property,
          defined[e.property] ?? e.value,
          Object.values(e.constraints ?? {}).join('; '),
        ),
      );
    }
    return instance;
  });
  return { instances, problems: [...problems.values()] };
}

/** Throws a ConfigError listing `problems`, when there are any. */
export function failOn(problems: readonly string[]): void {
  if (problems.length > 0) throw new ConfigError(`Invalid configuration:\n${problems.join('\n')}`);
}

/**
 * Reads `env` into one piece or a list of pieces, throwing a ConfigError that names every invalid
 * variable. Tools read just the pieces they need (`loadEnvironment(DatabaseEnvironment)`).
 */
export function loadEnvironment<T extends object>(piece: EnvironmentPiece<T>, env?: NodeJS.ProcessEnv): T;
export function loadEnvironment<P extends readonly EnvironmentPiece[]>(
  pieces: P,
  env?: NodeJS.ProcessEnv,
): EnvironmentOf<P>;
export function loadEnvironment(
  pieces: EnvironmentPiece | readonly EnvironmentPiece[],
  env: NodeJS.ProcessEnv = process.env,
): object {
  const { instances, problems } = readPieces(typeof pieces === 'function' ? [pieces] : pieces, env);
  failOn(problems);
  const [only, ...more] = instances;
  return only !== undefined && more.length === 0 ? only : (Object.assign({}, ...instances) as object);
}
