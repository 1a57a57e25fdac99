import {
  buildServiceConfig,
  MessagingEnvironment,
  RedisEnvironment,
  ServiceConfigOf,
  TwoPhaseCommitEnvironment,
} from '@hospital/platform';
import { QuotaCacheEnvironment } from '@hospital/transactions';
import { ImagingEnvironment } from './imaging.environment';

/**
 * What the PACS reads beyond the platform's own settings: two-phase commit, as a participant; the quota
 * cache of its imaging capacity (Redis) and the completion events that apply it (RabbitMQ); its DICOM
 * archive (Orthanc), whose worklist it writes and whose stored studies it reads.
 */
export const PACS_PIECES = [
  TwoPhaseCommitEnvironment,
  MessagingEnvironment,
  RedisEnvironment,
  QuotaCacheEnvironment,
  ImagingEnvironment,
] as const;

/** The PACS, and the coordinator it asks about branches in doubt (`EMR_URL` overrides it). */
export const PACS_SERVICE = { name: 'pacs', defaultPort: 3003, peers: { emr: 'http://127.0.0.1:3001' } };

export type PacsConfig = ServiceConfigOf<typeof PACS_PIECES>;

export function pacsConfig(env: NodeJS.ProcessEnv = process.env): PacsConfig {
  return buildServiceConfig(PACS_SERVICE, PACS_PIECES, env);
}
