import { Transform } from 'class-transformer';
import { IsIn, IsInt, Max, Min } from 'class-validator';
import {
  buildServiceConfig,
  MessagingEnvironment,
  ServiceConfigOf,
  ThreePhaseCommitEnvironment,
  toInt,
} from '@hospital/platform';

/** The telemedicine service's own settings. */
export class TelemedicineEnvironment {
  /** Longest expert conclusion or recommendations text a consult completion accepts, in characters. */
  @Transform(toInt) @IsInt() @Min(100) @Max(1_000_000) CONSULT_TEXT_MAX_CHARS: number = 20_000;
  /**
   * Measurement only: `true` lets `$complete` commit by two-phase commit or with no protocol at all
   * (`?_mode=2pc|uncoordinated`), for `npm run bench -- 3pc`. Otherwise those modes are refused with a 400.
   */
  @IsIn(['true', 'false']) CONSULT_MEASUREMENT_MODES: 'true' | 'false' = 'false';
}

/** What telemedicine reads beyond the platform's own settings: its own, and three-phase commit's. */
export const TELEMEDICINE_PIECES = [
  TelemedicineEnvironment,
  ThreePhaseCommitEnvironment,
  MessagingEnvironment,
] as const;

/**
 * Telemedicine coordinates consult completions with the EMR (the patient's chart) and the referring
 * site's recommendation inbox (`EMR_URL`, `REFERRAL_INBOX_URL` override them).
 */
export const TELEMEDICINE_SERVICE = {
  name: 'telemedicine',
  defaultPort: 3008,
  peers: {
    emr: 'http://127.0.0.1:3001',
    'referral-inbox': 'http://127.0.0.1:3081',
    // Its own consult record is a branch like the others, reached at its own address (`TELEMEDICINE_URL`).
    telemedicine: 'http://127.0.0.1:3008',
  },
};

export type TelemedicineConfig = ServiceConfigOf<typeof TELEMEDICINE_PIECES>;

export function telemedicineConfig(env: NodeJS.ProcessEnv = process.env): TelemedicineConfig {
  return buildServiceConfig(TELEMEDICINE_SERVICE, TELEMEDICINE_PIECES, env);
}
