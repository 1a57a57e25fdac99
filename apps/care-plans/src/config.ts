import { Transform } from 'class-transformer';
import { IsIn, IsInt, Max, Min } from 'class-validator';
import {
  buildServiceConfig,
  ConfigError,
  MessagingEnvironment,
  problemLine,
  ServiceConfigOf,
  toInt,
  TransactionsEnvironment,
} from '@hospital/platform';
import { TRANSACTION_MODES, type TransactionMode } from './plans/transaction-mode';

/** The longest back-off between two attempts of a plan's step (the engines' `retryMaxMs`). */
export const PLAN_RETRY_MAX_MS = 2_000;

/** The care-plans service's own settings. */
export class CarePlansEnvironment {
  /**
   * The transaction mode of a plan whose request names none (`?_mode=` or `x-transaction-mode`). TCC by
   * default: nothing a failing plan reserved is ever seen applied by others, with no quota cache needed.
   */
  @IsIn(TRANSACTION_MODES) CARE_PLAN_DEFAULT_MODE: TransactionMode = 'tcc';

  /** Longest wait for one call to a participant or to the EMR; a call without an answer by then failed. */
  @Transform(toInt) @IsInt() @Min(100) @Max(60_000) CARE_PLAN_CALL_TIMEOUT_MS: number = 5_000;

  /** How long a capacity resource a participant said exists is trusted without asking again (0: always ask). */
  @Transform(toInt) @IsInt() @Min(0) @Max(3_600_000) CAPACITY_RESOURCE_CACHE_MS: number = 30_000;

  /**
   * How long a plan's saga or TCC transaction stays with the replica driving it after each log write; after
   * that another replica's recovery takes it over. Must exceed CARE_PLAN_CALL_TIMEOUT_MS + 2000.
   */
  @Transform(toInt) @IsInt() @Min(1_000) @Max(3_600_000) CARE_PLAN_LEASE_MS: number = 30_000;
}

/** What care-plans reads beyond the platform's own settings. */
export const CARE_PLANS_PIECES = [
  CarePlansEnvironment,
  TransactionsEnvironment,
  MessagingEnvironment,
] as const;

/**
 * care-plans orchestrates multidisciplinary treatment plans: it checks patients and practitioners against
 * the EMR, and reserves consult slots in appointments, imaging capacity in the PACS and drug stock in the
 * pharmacy's inventory (`<NAME>_URL` overrides each).
 */
export const CARE_PLANS_SERVICE = {
  name: 'care-plans',
  defaultPort: 3007,
  peers: {
    emr: 'http://127.0.0.1:3001',
    appointments: 'http://127.0.0.1:3006',
    pacs: 'http://127.0.0.1:3003',
    'pharmacy-inventory': 'http://127.0.0.1:3041',
  },
};

export type CarePlansConfig = ServiceConfigOf<typeof CARE_PLANS_PIECES>;

export function carePlansConfig(env: NodeJS.ProcessEnv = process.env): CarePlansConfig {
  const config = buildServiceConfig(CARE_PLANS_SERVICE, CARE_PLANS_PIECES, env);
  const { CARE_PLAN_LEASE_MS: lease, CARE_PLAN_CALL_TIMEOUT_MS: timeout } = config.env;
  // The engines refuse a lease a live replica could let run out between two of its log writes.
  if (lease <= timeout + PLAN_RETRY_MAX_MS) {
    throw new ConfigError(
      `Invalid configuration:\n${problemLine(
        'CARE_PLAN_LEASE_MS',
        lease,
        `must exceed CARE_PLAN_CALL_TIMEOUT_MS + ${PLAN_RETRY_MAX_MS} (${timeout + PLAN_RETRY_MAX_MS})`,
      )}`,
    );
  }
  return config;
}
