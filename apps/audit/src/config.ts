import { buildServiceConfig, MessagingEnvironment, ServiceConfigOf } from '@hospital/platform';

/** What the audit service reads beyond the platform's own settings: RabbitMQ, for the records' queue. */
export const AUDIT_PIECES = [MessagingEnvironment] as const;

export const AUDIT_SERVICE = { name: 'audit', defaultPort: 3009, peers: {} };

export type AuditConfig = ServiceConfigOf<typeof AUDIT_PIECES>;

export function auditConfig(env: NodeJS.ProcessEnv = process.env): AuditConfig {
  return buildServiceConfig(AUDIT_SERVICE, AUDIT_PIECES, env);
}
