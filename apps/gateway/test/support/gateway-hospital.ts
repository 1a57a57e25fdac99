import { createServer, Server } from 'node:net';
import { once } from 'node:events';
import { Database, DatabaseSettings } from '@hospital/platform';
import type { ServiceProcess } from '../../../../scripts/lib/service-process';
import { SpawnedServices, url } from './spawned-services';

export { url } from './spawned-services';

/** The ports of the gateway's integration specs (4250-4299). */
export const PORTS = {
  gateway: 4250,
  emr: 4251,
  referralInbox: 4252,
  lis: 4253,
  pacs: 4254,
  strictGateway: 4255,
  /** Nothing listens here: a backend that is down. */
  nothing: 4256,
  /** A TCP server that answers anything with bytes that are not HTTP. */
  garbage: 4257,
} as const;

/**
 * A small hospital behind the gateway, every part a real process from `dist/` (built by `npm test` or
 * `node scripts/build.mjs`) on a fresh database of its own: the EMR with the LIS and the PACS it
 * coordinates record updates with, the referral inbox, and two gateways — the main one in front of the EMR
 * and the referral inbox, and a strict one (tight rate limit; its referral inbox down, its care-plans
 * service answering garbage).
 */
export class GatewayHospital {
  emrDb!: Database;
  // `<service>-gateway`: the spec's own template and databases (hospital_emr_gateway_t…).
  private readonly services = new SpawnedServices('gateway', {
    EMR_URL: url(PORTS.emr),
    LIS_URL: url(PORTS.lis),
    PACS_URL: url(PORTS.pacs),
    REFERRAL_INBOX_URL: url(PORTS.referralInbox),
  });
  private garbage?: Server;

  static async start(): Promise<GatewayHospital> {
    const hospital = new GatewayHospital();
    try {
      await hospital.boot();
    } catch (error) {
      await hospital.stop();
      throw error;
    }
    return hospital;
  }

  private database(name: string): Promise<DatabaseSettings> {
    return this.services.database(name);
  }

  private spawn(name: string, port: number, env: Record<string, string>): Promise<ServiceProcess> {
    return this.services.spawn(name, port, env);
  }

  private async boot(): Promise<void> {
    const [emr, lis, pacs, inbox] = [
      await this.database('emr'),
      await this.database('lis'),
      await this.database('pacs'),
      await this.database('referral-inbox'),
    ];
    this.emrDb = new Database(emr, 'gateway-spec');
    await Promise.all([
      this.spawn('emr', PORTS.emr, { PGDATABASE: emr.database }),
      this.spawn('lis', PORTS.lis, { PGDATABASE: lis.database }),
      this.spawn('pacs', PORTS.pacs, { PGDATABASE: pacs.database }),
      this.spawn('referral-inbox', PORTS.referralInbox, { PGDATABASE: inbox.database }),
    ]);
    this.garbage = createServer((socket) => {
      socket.on('error', () => undefined);
      socket.end('this is not HTTP at all\r\n\r\n');
    });
    this.garbage.listen(PORTS.garbage, '127.0.0.1');
    await once(this.garbage, 'listening');
    await Promise.all([
      this.spawn('gateway', PORTS.gateway, {
        GATEWAY_BACKENDS: 'emr,referral-inbox',
        BODY_LIMIT_BYTES: '65536',
        CORS_ORIGINS: 'https://app.hospital.example',
        RATE_LIMIT_PER_SECOND: '1000',
        RATE_LIMIT_BURST: '1000',
      }),
      this.spawn('gateway', PORTS.strictGateway, {
        GATEWAY_BACKENDS: 'emr,referral-inbox,care-plans',
        REFERRAL_INBOX_URL: url(PORTS.nothing),
        CARE_PLANS_URL: url(PORTS.garbage),
        GATEWAY_CONNECT_TIMEOUT_MS: '500',
        RATE_LIMIT_PER_SECOND: '1',
        RATE_LIMIT_BURST: '5',
      }),
    ]);
  }

  /** Rows of the EMR's FHIR store (resources and history): what a refused write must leave unchanged. */
  async emrRows(): Promise<number> {
    const [row] = await this.emrDb.query<{ n: number }>(
      'SELECT (SELECT count(*) FROM fhir_resource) + (SELECT count(*) FROM fhir_resource_history) AS n',
    );
    return Number(row?.n ?? 0);
  }

  async stop(): Promise<void> {
    this.garbage?.close();
    await this.emrDb?.close();
    await this.services.stop();
  }
}
