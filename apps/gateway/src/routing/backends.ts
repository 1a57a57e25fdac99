import { Inject, Injectable, OnApplicationShutdown, OnModuleInit } from '@nestjs/common';
import type { CapabilityStatement } from '@medplum/fhirtypes';
import { Logger } from 'pino';
import { Pool } from 'undici';
import { ReadinessChecks, ROOT_LOGGER, SERVICE_CONFIG } from '@hospital/platform';
import {
  declaredTypes,
  isCapabilityStatement,
  mergeCapabilityStatements,
} from '../capability/merge-capability';
import { configuredBackends, GatewayConfig } from '../config';
import { MIXED_BUNDLE_COORDINATOR, OwnerTable } from './owner-table';

/** One service behind the gateway and its pool of keep-alive connections. */
export interface Backend {
  name: string;
  url: string;
  /** Whether it serves FHIR (and so a CapabilityStatement); the others are reached under /api only. */
  fhir: boolean;
  pool: Pool;
}

/** How long a metadata or health probe of a backend may take. */
const PROBE_TIMEOUT_MS = 3_000;
/** How often backends not heard from yet are asked again for their CapabilityStatement. */
const RETRY_UNKNOWN_MS = 2_000;

/**
 * The backends: one undici Pool each (keep-alive connections, time-outs from GATEWAY_*), the owner table
 * built from their CapabilityStatements at start-up and refreshed every GATEWAY_METADATA_REFRESH_MS (every
 * 2 s while one is not known yet), the merged CapabilityStatement, and each backend's readiness.
 * Replicas share nothing: each builds its own table from the same backends.
 */
@Injectable()
export class Backends implements OnModuleInit, OnApplicationShutdown {
  readonly owners: OwnerTable;
  private readonly list: Backend[];
  private readonly statements = new Map<string, CapabilityStatement>();
  private merged?: CapabilityStatement;
  private timer?: NodeJS.Timeout;
  private stopped = false;

  constructor(
    @Inject(SERVICE_CONFIG) private readonly config: GatewayConfig,
    @Inject(ReadinessChecks) private readonly readiness: ReadinessChecks,
    @Inject(ROOT_LOGGER) private readonly logger: Logger,
  ) {
    const env = config.env;
    this.list = configuredBackends(config).map(({ name, url, fhir }) => ({
      name,
      url,
      fhir,
      pool: new Pool(url, {
        connections: env.GATEWAY_CONNECTIONS,
        pipelining: 1,
        keepAliveTimeout: 30_000,
        connectTimeout: env.GATEWAY_CONNECT_TIMEOUT_MS,
        headersTimeout: env.GATEWAY_TIMEOUT_MS,
        bodyTimeout: env.GATEWAY_TIMEOUT_MS,
      }),
    }));
    this.owners = new OwnerTable(this.fhirBackends().map((b) => b.name));
  }

  async onModuleInit(): Promise<void> {
    // Ready while at least one backend is: one service down (or not deployed yet) must not take the whole
    // front door out of a load balancer. `GET /health` reports each backend.
    this.readiness.add({ name: 'backends', check: () => this.checkAnyReady() });
    // The first table before serving, as far as the backends answer within a probe's time; the rest later.
    await this.refresh();
    this.schedule();
  }

  async onApplicationShutdown(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await Promise.all(this.list.map((backend) => backend.pool.close().catch(() => undefined)));
  }

  get(name: string): Backend {
    const backend = this.list.find((b) => b.name === name);
    if (backend === undefined) throw new Error(`backend ${name} is not configured`);
    return backend;
  }

  all(): readonly Backend[] {
    return this.list;
  }

  /** The backends that serve FHIR: those the owner table and the merged CapabilityStatement are made of. */
  fhirBackends(): readonly Backend[] {
    return this.list.filter((backend) => backend.fhir);
  }

  /** The merged CapabilityStatement, naming `baseUrl` (the gateway's base as this client reached it). */
  capability(baseUrl: string): CapabilityStatement {
    this.merged ??= this.merge();
    return {
      ...this.merged,
      implementation: {
        ...this.merged.implementation,
        description: this.merged.implementation?.description ?? '',
        url: baseUrl,
      },
    };
  }

  /** Fetches every backend's CapabilityStatement; one that does not answer keeps its last known one. */
  async refresh(): Promise<void> {
    await Promise.all(
      this.fhirBackends().map(async (backend) => {
        const statement = await this.fetchMetadata(backend);
        if (statement === undefined) return;
        this.statements.set(backend.name, statement);
        this.owners.update(backend.name, declaredTypes(statement));
      }),
    );
    this.merged = this.merge();
  }

  /** Throws unless the backend's `/health/ready` answers 200. */
  async checkReady(backend: Backend): Promise<void> {
    const answer = await backend.pool.request({
      path: '/health/ready',
      method: 'GET',
      headersTimeout: PROBE_TIMEOUT_MS,
      bodyTimeout: PROBE_TIMEOUT_MS,
      signal: AbortSignal.timeout(PROBE_TIMEOUT_MS),
    });
    await answer.body.dump();
    if (answer.statusCode !== 200) throw new Error(`${backend.name} is not ready (${answer.statusCode})`);
  }

  /** Throws when no backend is ready, naming them. */
  async checkAnyReady(): Promise<void> {
    const states = await Promise.allSettled(this.list.map((backend) => this.checkReady(backend)));
    if (states.some((state) => state.status === 'fulfilled')) return;
    throw new Error(`no backend is ready (${this.list.map((b) => b.name).join(', ')})`);
  }

  private merge(): CapabilityStatement {
    return mergeCapabilityStatements({
      statements: this.statements,
      routes: this.owners.routes(),
      coordinator: MIXED_BUNDLE_COORDINATOR,
      baseUrl: '',
      date: new Date().toISOString(),
    });
  }

  private schedule(): void {
    if (this.stopped) return;
    const allKnown = this.fhirBackends().every((backend) => this.owners.known(backend.name));
    const delay = allKnown ? this.config.env.GATEWAY_METADATA_REFRESH_MS : RETRY_UNKNOWN_MS;
    this.timer = setTimeout(() => {
      void this.refresh()
        .catch((error: unknown) => this.logger.warn({ err: String(error) }, 'metadata refresh failed'))
        .finally(() => this.schedule());
    }, delay);
    this.timer.unref();
  }

  private async fetchMetadata(backend: Backend): Promise<CapabilityStatement | undefined> {
    try {
      const answer = await backend.pool.request({
        path: '/fhir/metadata',
        method: 'GET',
        headers: { accept: 'application/fhir+json' },
        headersTimeout: PROBE_TIMEOUT_MS,
        bodyTimeout: PROBE_TIMEOUT_MS,
        signal: AbortSignal.timeout(PROBE_TIMEOUT_MS),
      });
      if (answer.statusCode !== 200) {
        await answer.body.dump();
        return undefined;
      }
      const statement: unknown = await answer.body.json();
      return isCapabilityStatement(statement) ? statement : undefined;
    } catch (error) {
      this.logger.debug({ backend: backend.name, err: String(error) }, 'backend metadata not available');
      return undefined;
    }
  }
}
