import {
  buildServiceConfig,
  MessagingEnvironment,
  ServiceConfigOf,
  ThreePhaseCommitEnvironment,
  TwoPhaseCommitEnvironment,
} from '@hospital/platform';

/**
 * What the EMR reads beyond the platform's own settings: two-phase commit, as the coordinator of record
 * updates; three-phase commit, as a participant of telemedicine's consult completions.
 */
export const EMR_PIECES = [
  TwoPhaseCommitEnvironment,
  ThreePhaseCommitEnvironment,
  MessagingEnvironment,
] as const;

/** The EMR, and the departments it coordinates record updates with (`LIS_URL`, `PACS_URL` override them). */
export const EMR_SERVICE = {
  name: 'emr',
  defaultPort: 3001,
  peers: {
    lis: 'http://127.0.0.1:3002',
    pacs: 'http://127.0.0.1:3003',
    // The consult completions' other participants, reached when it terminates one without telemedicine.
    telemedicine: 'http://127.0.0.1:3008',
    'referral-inbox': 'http://127.0.0.1:3081',
  },
};

export type EmrConfig = ServiceConfigOf<typeof EMR_PIECES>;

export function emrConfig(env: NodeJS.ProcessEnv = process.env): EmrConfig {
  return buildServiceConfig(EMR_SERVICE, EMR_PIECES, env);
}
