import { setFlagsFromString } from 'node:v8';
import { DynamicModule, ExceptionFilter, INestApplication } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { DocumentBuilder, SwaggerModule } from '@nestjs/swagger';
import { Logger } from 'pino';
import { ConfigError, ServiceConfig } from '../config/service-config';
import { PinoNestLogger } from '../logging/logger';
import { ROOT_LOGGER } from './platform.module';

export interface ServiceAppOptions {
  /**
   * The service's one exception filter (`FhirExceptionFilter`): every `DomainException` and other error
   * becomes an OperationOutcome on FHIR routes and RFC 9457 problem JSON on `/api` routes.
   */
  filters?: ExceptionFilter[];
  description?: string;
  /**
   * Runs after the app is created and before it listens: e.g. a hybrid app connects its microservices
   * (`app.connectMicroservice`) and starts them, so a message transport is up before HTTP traffic.
   */
  beforeListen?: (app: NestExpressApplication, config: ServiceConfig) => Promise<void>;
  /**
   * Whether the platform parses request bodies (default true). A proxy (the gateway) passes false and
   * streams bodies through untouched, enforcing BODY_LIMIT_BYTES itself.
   */
  parseBodies?: boolean;
}

/**
 * Creates a service's Nest app with the platform's conventions: JSON and FHIR JSON bodies up to the
 * configured limit (and form bodies, for FHIR's search by POST), pino logs, OpenAPI at /api/docs, graceful shutdown. Does not listen.
 */
export async function createServiceApp(
  root: DynamicModule,
  config: ServiceConfig,
  options: ServiceAppOptions = {},
): Promise<NestExpressApplication> {
  const app = await NestFactory.create<NestExpressApplication>(root, { bodyParser: false, bufferLogs: true });
  app.useLogger(new PinoNestLogger(app.get<Logger>(ROOT_LOGGER)));
  if (options.parseBodies !== false) {
    app.useBodyParser('json', {
      limit: config.env.BODY_LIMIT_BYTES,
      type: ['application/json', 'application/fhir+json', 'application/*+json'],
    });
    // Form bodies: FHIR's `POST [type]/_search` sends its parameters as application/x-www-form-urlencoded.
    app.useBodyParser('urlencoded', {
      limit: config.env.BODY_LIMIT_BYTES,
      extended: false,
      type: 'application/x-www-form-urlencoded',
    });
  }
  app.disable('x-powered-by');
  // X-Forwarded-Proto/-Host/-Prefix count only from these peers (libs/fhir's base URL reads them).
  app.set('trust proxy', trustProxySetting(config.env.TRUST_PROXY));
  app.set('etag', false);
  if (options.filters?.length) app.useGlobalFilters(...options.filters);
  app.enableShutdownHooks();
  const document = SwaggerModule.createDocument(
    app,
    new DocumentBuilder()
      .setTitle(`hospital ${config.service.name}`)
      .setDescription(
        options.description ?? `Admin and transaction API of the ${config.service.name} service.`,
      )
      .setVersion('0.1.0')
      .build(),
  );
  SwaggerModule.setup('api/docs', app, document);
  return app;
}

/**
 * Express's `trust proxy` value for TRUST_PROXY: `false`/`none` trusts no peer, `true` every peer (only
 * behind a proxy that always overwrites the headers), a number that many hops, anything else a
 * comma-separated list of addresses, subnets or Express's names (`loopback`, `linklocal`, `uniquelocal`).
 */
export function trustProxySetting(value: string): boolean | number | string[] {
  const trimmed = value.trim();
  if (trimmed === 'false' || trimmed === 'none' || trimmed === '') return false;
  if (trimmed === 'true') return true;
  if (/^\d+$/.test(trimmed)) return Number(trimmed);
  return trimmed
    .split(',')
    .map((entry) => entry.trim())
    .filter((entry) => entry !== '');
}

/** Creates the app and listens on the configured host and port; logs where it is. */
export async function startService(
  root: DynamicModule,
  config: ServiceConfig,
  options: ServiceAppOptions = {},
): Promise<INestApplication> {
  const app = await createServiceApp(root, config, options);
  await options.beforeListen?.(app, config);
  await app.listen(config.port, config.host);
  app
    .get<Logger>(ROOT_LOGGER)
    .info({ port: config.port }, `${config.service.name} listening on http://${config.host}:${config.port}`);
  return app;
}

/**
 * Caps how far V8 grows the heap past the live data after each full collection (HEAP_GROWTH_PERCENT).
 * V8 reads this flag at every collection, so setting it at start, before the service takes load, has
 * the same effect as passing it on the command line.
 */
export function limitHeapGrowth(percent: number): void {
  if (percent > 0) setFlagsFromString(`--heap-growing-percent=${percent}`);
}

/**
 * A service's `main`: reads its configuration, starts it, and on failure prints one line (a configuration
 * error names the variable) and exits 1, never echoing request data.
 */
export function runService<C extends ServiceConfig>(
  name: string,
  configure: () => C,
  root: (config: C) => DynamicModule,
  options: ServiceAppOptions = {},
): void {
  const start = async () => {
    const config = configure();
    limitHeapGrowth(config.env.HEAP_GROWTH_PERCENT);
    await startService(root(config), config, options);
  };
  start().catch((error: unknown) => {
    const reason = error instanceof ConfigError ? error.message : String(error);
    process.stderr.write(`${name} failed to start: ${reason}\n`);
    process.exit(1);
  });
}
