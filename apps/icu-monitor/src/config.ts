import { Transform } from 'class-transformer';
import { IsInt, Max, Min } from 'class-validator';
import { buildServiceConfig, MessagingEnvironment, ServiceConfigOf, toInt } from '@hospital/platform';
import { BestEffortEnvironment } from '@hospital/transactions';
import { MqttFeedEnvironment } from './feed/feed.environment';

/** The ICU monitor's own settings (the MQTT feed's are `MqttFeedEnvironment`). */
export class IcuMonitorEnvironment {
  /**
   * How far past the service's clock a vital's `effectiveDateTime` may lie (bedside clocks drift): a vital
   * from further in the future is refused, since it would stay its parameter's latest value for good.
   */
  @Transform(toInt) @IsInt() @Min(0) @Max(3_600_000) VITALS_MAX_CLOCK_SKEW_MS: number = 300_000;

  /** The most vitals written by one transaction (group commit: those that arrive while others are written). */
  @Transform(toInt) @IsInt() @Min(1) @Max(5_000) VITALS_GROUP_MAX: number = 500;

  /** The most vital transactions at once (database sessions the vitals use). */
  @Transform(toInt) @IsInt() @Min(1) @Max(32) VITALS_GROUP_SESSIONS: number = 2;
}

/** What the ICU monitor reads beyond the platform's own settings (alerts leave by best-effort notification). */
export const ICU_MONITOR_PIECES = [
  IcuMonitorEnvironment,
  MqttFeedEnvironment,
  BestEffortEnvironment,
  MessagingEnvironment,
] as const;

/**
 * The ICU monitor: vitals in, NEWS2 scores and alerts out. It calls the central monitoring station
 * (`ICU_STATION_URL`) with each alert opened or closed.
 */
export const ICU_MONITOR_SERVICE = {
  name: 'icu-monitor',
  defaultPort: 3005,
  peers: { 'icu-station': 'http://127.0.0.1:3051' },
};

export type IcuMonitorConfig = ServiceConfigOf<typeof ICU_MONITOR_PIECES>;

export function icuMonitorConfig(env: NodeJS.ProcessEnv = process.env): IcuMonitorConfig {
  return buildServiceConfig(ICU_MONITOR_SERVICE, ICU_MONITOR_PIECES, env);
}
