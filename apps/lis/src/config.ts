import { BaseEnvironment, buildServiceConfig, ServiceConfig } from '@hospital/platform';

/** LIS settings: the shared ones for now. */
export class LisEnvironment extends BaseEnvironment {}

export type LisConfig = ServiceConfig<LisEnvironment>;

export function lisConfig(env: NodeJS.ProcessEnv = process.env): LisConfig {
  return buildServiceConfig({ name: 'lis', defaultPort: 3002 }, LisEnvironment, env);
}
