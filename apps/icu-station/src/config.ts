import { Transform } from 'class-transformer';
import { IsIn, IsInt, Max, Min } from 'class-validator';
import { buildServiceConfig, MessagingEnvironment, ServiceConfigOf, toInt } from '@hospital/platform';

/** The station's own settings: its reconciliation with the ICU monitor. */
export class IcuStationEnvironment {
  /** Ask the monitor for missed alerts at start (and every `STATION_RECONCILE_INTERVAL_MS`). */
  @IsIn(['true', 'false']) STATION_RECONCILE: string = 'true';
  /** How often to reconcile after the start; 0: only at the start. */
  @Transform(toInt) @IsInt() @Min(0) STATION_RECONCILE_INTERVAL_MS: number = 60_000;
  /** Notifications asked for per page. */
  @Transform(toInt) @IsInt() @Min(1) @Max(1_000) STATION_RECONCILE_PAGE: number = 100;
}

export const ICU_STATION_PIECES = [IcuStationEnvironment, MessagingEnvironment] as const;

/** The central monitoring station: takes the ICU monitor's alerts, and asks it for those it missed. */
export const ICU_STATION_SERVICE = {
  name: 'icu-station',
  defaultPort: 3051,
  peers: { 'icu-monitor': 'http://127.0.0.1:3005' },
};

export type IcuStationConfig = ServiceConfigOf<typeof ICU_STATION_PIECES>;

export function icuStationConfig(env: NodeJS.ProcessEnv = process.env): IcuStationConfig {
  return buildServiceConfig(ICU_STATION_SERVICE, ICU_STATION_PIECES, env);
}
