import { Transform } from 'class-transformer';
import { IsInt, IsString, Matches, Max, Min } from 'class-validator';
import {
  buildServiceConfig,
  MessagingEnvironment,
  ServiceConfigOf,
  toInt,
  TwoPhaseCommitEnvironment,
} from '@hospital/platform';

/**
 * The LIS's HL7 v2 interface: the analyzer it sends orders to (MLLP client), and the port its MLLP listener
 * takes results on.
 */
export class Hl7Environment {
  /** Host of the analyzer's (or its middleware's) MLLP order port. */
  @IsString() @Matches(/^[A-Za-z0-9.:-]+$/) ANALYZER_MLLP_HOST: string = '127.0.0.1';
  @Transform(toInt) @IsInt() @Min(1) @Max(65535) ANALYZER_MLLP_PORT: number = 2576;
  /** How long to wait for the analyzer's ACK of an order before trying again (with back-off). */
  @Transform(toInt) @IsInt() @Min(100) @Max(300_000) ANALYZER_ACK_TIMEOUT_MS: number = 10_000;
  /** The port of the LIS's MLLP listener for results (ORU^R01); 0 picks a free one. */
  @Transform(toInt) @IsInt() @Min(0) @Max(65535) HL7_LISTEN_PORT: number = 2575;
}

/**
 * What the LIS reads beyond the platform's own settings: two-phase commit, as a participant; messaging,
 * for its audit trail and its orders' outbox; its HL7 interface.
 */
export const LIS_PIECES = [TwoPhaseCommitEnvironment, MessagingEnvironment, Hl7Environment] as const;

/** The LIS, and the coordinator it asks about branches in doubt (`EMR_URL` overrides it). */
export const LIS_SERVICE = { name: 'lis', defaultPort: 3002, peers: { emr: 'http://127.0.0.1:3001' } };

export type LisConfig = ServiceConfigOf<typeof LIS_PIECES>;

export function lisConfig(env: NodeJS.ProcessEnv = process.env): LisConfig {
  return buildServiceConfig(LIS_SERVICE, LIS_PIECES, env);
}
