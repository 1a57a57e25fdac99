import { buildServiceConfig, ServiceConfigOf } from '@hospital/platform';

/** The referral inbox reads only the platform's own settings (its branch protocol adds its piece). */
export const REFERRAL_INBOX_PIECES = [] as const;

/**
 * The referring site's recommendation inbox: its own process and database (`hospital_referral_inbox`),
 * where telemedicine's consult completions deliver their recommendations.
 */
export const REFERRAL_INBOX_SERVICE = { name: 'referral-inbox', defaultPort: 3081 };

export type ReferralInboxConfig = ServiceConfigOf<typeof REFERRAL_INBOX_PIECES>;

export function referralInboxConfig(env: NodeJS.ProcessEnv = process.env): ReferralInboxConfig {
  return buildServiceConfig(REFERRAL_INBOX_SERVICE, REFERRAL_INBOX_PIECES, env);
}
