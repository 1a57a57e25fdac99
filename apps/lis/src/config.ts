import {
  buildServiceConfig,
  MessagingEnvironment,
  ServiceConfigOf,
  TwoPhaseCommitEnvironment,
} from '@hospital/platform';

/**
 * What the LIS reads beyond the platform's own settings: two-phase commit, as a participant; messaging,
 * for its audit trail's outbox.
 */
export const LIS_PIECES = [TwoPhaseCommitEnvironment, MessagingEnvironment] as const;

/** The LIS, and the coordinator it asks about branches in doubt (`EMR_URL` overrides it). */
export const LIS_SERVICE = { name: 'lis', defaultPort: 3002, peers: { emr: 'http://127.0.0.1:3001' } };

export type LisConfig = ServiceConfigOf<typeof LIS_PIECES>;

export function lisConfig(env: NodeJS.ProcessEnv = process.env): LisConfig {
  return buildServiceConfig(LIS_SERVICE, LIS_PIECES, env);
}
