import { Transform } from 'class-transformer';
import { IsInt, IsOptional, IsString, Matches, Max, Min } from 'class-validator';
import { toInt } from '@hospital/platform';

/**
 * The quota cache of a quota-cached saga participant (QuotaCacheModule), beside `RedisEnvironment`.
 * `QUOTA_RESERVATION_TTL_MS` must exceed the longest a saga takes from its first reservation to its hold.
 */
export class QuotaCacheEnvironment {
  /** Prefix of the cache's Redis keys (default `hospital:<service>:quota:`). */
  @IsOptional() @IsString() @Matches(/^[A-Za-z0-9:._-]{1,64}$/) QUOTA_KEY_PREFIX?: string;
  /** A reservation its saga did not hold within this long expires; its units return to the cache. */
  @Transform(toInt) @IsInt() @Min(100) QUOTA_RESERVATION_TTL_MS: number = 60_000;
  /** Units lent from the main database per top-up, beyond what the reservation asks. */
  @Transform(toInt) @IsInt() @Min(1) @Max(100_000) QUOTA_LEND_CHUNK: number = 50;
  /** Free units untouched this long go back to the main database (0: never). */
  @Transform(toInt) @IsInt() @Min(0) QUOTA_IDLE_RETURN_MS: number = 120_000;
  /** Units of a cache epoch lost with Redis's data stay withheld this long for late completions. */
  @Transform(toInt) @IsInt() @Min(0) QUOTA_LOST_GRACE_MS: number = 600_000;
  /** How often the sweeper looks at the resources this replica touched (expiry, settling). */
  @Transform(toInt) @IsInt() @Min(10) QUOTA_SWEEP_MS: number = 1_000;
  /** How often it looks at every resource lent (rebuilding a lost cache, returning idle quota, lost epochs). */
  @Transform(toInt) @IsInt() @Min(100) QUOTA_FULL_SWEEP_MS: number = 30_000;
}
