/**
 * The one thing repositories need from a database connection: run a parameterised statement.
 * A TypeORM DataSource, EntityManager and QueryRunner all satisfy it, so the same repository code
 * runs in an ordinary local transaction and inside a branch that ends in PREPARE TRANSACTION.
 */
export interface SqlExecutor {
  query<T = Record<string, unknown>>(sql: string, parameters?: unknown[]): Promise<T[]>;
}

const hotStatements = new Map<string, string>();

/**
 * Marks a statement a service runs on every request (an outbox append, a resource insert): each
 * connection then parses it once, as a named prepared statement, and after a few calls keeps a generic
 * plan instead of planning every call. Returns the text unchanged, so it is used like any other; the
 * text must be constant.
 *
 * Only for statements whose best plan cannot depend on how much a table holds: inserts, and writes
 * addressed by a key. A statement that searches or joins a growing table stays unnamed and is planned
 * for each call: a plan cached while the table was empty would stay a scan as the table grows.
 */
export function hotStatement(sql: string): string {
  if (!hotStatements.has(sql)) hotStatements.set(sql, `hospital_hot_${hotStatements.size + 1}`);
  return sql;
}

/** The driver's query for `sql`: named when it was marked hot. */
export function queryConfig(
  sql: string,
  parameters?: unknown[],
): { text: string; values?: unknown[]; name?: string } {
  const name = hotStatements.get(sql);
  return name === undefined ? { text: sql, values: parameters } : { name, text: sql, values: parameters };
}

/** Postgres error codes the platform reacts to. */
export const PgErrorCode = {
  UniqueViolation: '23505',
  ForeignKeyViolation: '23503',
  SerializationFailure: '40001',
  DeadlockDetected: '40P01',
  LockNotAvailable: '55P03',
  UndefinedObject: '42704',
  DuplicateObject: '42710',
  /** Among others: a prepared transaction another session is committing or rolling back right now ("is busy"). */
  ObjectNotInPrerequisiteState: '55000',
} as const;

export function pgErrorCode(error: unknown): string | undefined {
  if (typeof error !== 'object' || error === null) return undefined;
  const code = (error as { code?: unknown }).code;
  if (typeof code === 'string') return code;
  const driverError = (error as { driverError?: unknown }).driverError;
  return driverError === undefined ? undefined : pgErrorCode(driverError);
}
