import {
  buildServiceConfig,
  MessagingEnvironment,
  ServiceConfigOf,
  ThreePhaseCommitEnvironment,
} from '@hospital/platform';

/** The referral inbox reads the platform's own settings and those of its branch protocol (3PC). */
export const REFERRAL_INBOX_PIECES = [ThreePhaseCommitEnvironment, MessagingEnvironment] as const;

/**
 * The referring site's recommendation inbox: its own process and database (`hospital_referral_inbox`),
 * where telemedicine's consult completions deliver their recommendations. It reaches the completions'
 * other participants (`EMR_URL`, `TELEMEDICINE_URL`) when it terminates one without telemedicine.
 */
export const REFERRAL_INBOX_SERVICE = {
  name: 'referral-inbox',
  defaultPort: 3081,
  peers: { emr: 'http://127.0.0.1:3001', telemedicine: 'http://127.0.0.1:3008' },
};

export type ReferralInboxConfig = ServiceConfigOf<typeof REFERRAL_INBOX_PIECES>;

export function referralInboxConfig(env: NodeJS.ProcessEnv = process.env): ReferralInboxConfig {
  return buildServiceConfig(REFERRAL_INBOX_SERVICE, REFERRAL_INBOX_PIECES, env);
}
