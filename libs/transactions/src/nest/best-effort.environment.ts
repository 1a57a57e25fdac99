import { Transform } from 'class-transformer';
import { IsIn, IsInt, Max, Min } from 'class-validator';
import { toInt } from '@hospital/platform';

/**
 * Best-effort notification (BestEffortModule): whether this process runs dispatchers, and each channel's
 * default delivery policy (a channel definition may override any of it). Compose it into the service's
 * configuration pieces; `NOTIFICATION_LEASE_MS` must exceed `NOTIFICATION_ATTEMPT_TIMEOUT_MS`.
 */
export class BestEffortEnvironment {
  /** Run dispatchers in this process (several may run across replicas: leases keep them apart). */
  @IsIn(['true', 'false']) NOTIFICATION_DISPATCHER: string = 'true';
  /** Most notifications one dispatcher claims and attempts side by side. */
  @Transform(toInt) @IsInt() @Min(1) @Max(1_000) NOTIFICATION_BATCH_SIZE: number = 50;
  /** A dispatcher polls this often when no NOTIFY woke it and nothing falls due sooner. */
  @Transform(toInt) @IsInt() @Min(10) NOTIFICATION_POLL_MS: number = 1_000;
  /** An attempt without an answer by then counts as failed (`timeout`). */
  @Transform(toInt) @IsInt() @Min(10) NOTIFICATION_ATTEMPT_TIMEOUT_MS: number = 10_000;
  /** A claimed notification is withheld from other dispatchers this long without an outcome. */
  @Transform(toInt) @IsInt() @Min(20) NOTIFICATION_LEASE_MS: number = 30_000;
  /** Attempts per round before a notification is dead-lettered. */
  @Transform(toInt) @IsInt() @Min(1) @Max(1_000) NOTIFICATION_MAX_ATTEMPTS: number = 8;
  /** Back-off: the first retry's scale and the longest delay, in ms, and the jitter. */
  @Transform(toInt) @IsInt() @Min(1) NOTIFICATION_BASE_DELAY_MS: number = 500;
  @Transform(toInt) @IsInt() @Min(1) NOTIFICATION_MAX_DELAY_MS: number = 60_000;
  @IsIn(['full', 'decorrelated']) NOTIFICATION_JITTER: string = 'full';
  /** Delivered notifications (and their attempts) are kept this long for reconciliation, then deleted. */
  @Transform(toInt) @IsInt() @Min(1) NOTIFICATION_RETENTION_HOURS: number = 168;
}
