import { BaseEnvironment, buildServiceConfig, ServiceConfig } from '@hospital/platform';

/** PACS settings: the shared ones for now. */
export class PacsEnvironment extends BaseEnvironment {}

export type PacsConfig = ServiceConfig<PacsEnvironment>;

export function pacsConfig(env: NodeJS.ProcessEnv = process.env): PacsConfig {
  return buildServiceConfig({ name: 'pacs', defaultPort: 3003 }, PacsEnvironment, env);
}
