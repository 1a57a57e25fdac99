import { BaseEnvironment, buildServiceConfig, ServiceConfig } from '@hospital/platform';

/** EMR settings: the shared ones for now. */
export class EmrEnvironment extends BaseEnvironment {}

export type EmrConfig = ServiceConfig<EmrEnvironment>;

export function emrConfig(env: NodeJS.ProcessEnv = process.env): EmrConfig {
  return buildServiceConfig({ name: 'emr', defaultPort: 3001 }, EmrEnvironment, env);
}
