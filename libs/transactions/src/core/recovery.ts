import { errorMessage, ProtocolLogger } from './observer';

/**
 * One recovery sweep over claimed records: each gets its step; a step that throws is logged and noted
 * for a later retry, and the sweep goes on with the next. Returns how many steps finished their record.
 */
export async function recoverEach<R extends { gtid: string }>(
  records: readonly R[],
  step: (record: R) => Promise<boolean>,
  noteRetry: (record: R, error: string) => Promise<void>,
  logger: ProtocolLogger,
  what: string,
): Promise<number> {
  let finished = 0;
  for (const record of records) {
    try {
      if (await step(record)) finished += 1;
    } catch (error) {
      logger.warn(`${what} recovery step failed; will retry`, {
        gtid: record.gtid,
        error: errorMessage(error),
      });
      await noteRetry(record, errorMessage(error)).catch(() => undefined);
    }
  }
  return finished;
}

/**
 * How long a record given back to recovery stays unclaimed after `retries` earlier give-backs: 1×, 2×,
 * 4×… `baseMs`, capped at `maxMs`.
 */
export function recoveryRetryDelay(retries: number, baseMs: number, maxMs: number): number {
  return Math.min(maxMs, baseMs * 2 ** Math.min(retries, 20));
}

/** A value as a JSON log stores it: a run after a restart sees exactly what the first run saw. */
export function asJson(value: unknown): unknown {
  return value === undefined ? null : (JSON.parse(JSON.stringify(value)) as unknown);
}

/**
 * `recoverEach` over every claimed record side by side (each renews its own lease as it goes), instead of
 * one after another. Returns how many finished.
 */
export async function recoverSideBySide<R extends { gtid: string }>(
  records: readonly R[],
  step: (record: R) => Promise<boolean>,
  noteRetry: (record: R, error: string) => Promise<void>,
  logger: ProtocolLogger,
  what: string,
): Promise<number> {
  const finished = await Promise.all(records.map((r) => recoverEach([r], step, noteRetry, logger, what)));
  return finished.reduce((sum, n) => sum + n, 0);
}
