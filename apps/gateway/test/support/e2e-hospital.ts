import { randomBytes } from 'node:crypto';
import { Client } from 'pg';
import type { DatabaseSettings } from '@hospital/platform';
import { seedStock } from '../../../../scripts/lib/demo-seed';
import { SpawnedServices, url } from './spawned-services';

/**
 * The ports of one end-to-end hospital, from `first` on (the gateway's end-to-end specs use 4400-4449, each
 * spec its own ten, so two specs can run at once).
 */
export function e2ePorts(
  first: number,
): Record<'gateway' | 'emr' | 'lis' | 'pacs' | 'audit' | 'inventory', number> {
  return {
    gateway: first,
    emr: first + 1,
    lis: first + 2,
    pacs: first + 3,
    audit: first + 4,
    inventory: first + 5,
  };
}

/** Tables of audit and messaging bookkeeping and of the schema's own history, not clinical data. */
const BOOKKEEPING = /^(tx_|audit_|schema_migrations$)/;

/** A clinical table's size: its row count and, where it keeps versions, its highest one. */
export type TableSnapshot = Record<string, { rows: number; maxVersion: number | null }>;

/**
 * The hospital as a newcomer's FHIR client meets it, every part a real process from `dist/` on a fresh
 * database (`hospital_<service>_e2e_t…`): the EMR with the LIS and the PACS it coordinates record updates
 * with, the audit service, and the gateway in front of the EMR and the audit service. The services share a
 * messaging namespace of their own, so the audit records of this run reach this run's audit service only.
 */
export class E2eHospital {
  readonly gatewayUrl: string;
  readonly databases: Record<string, DatabaseSettings> = {};
  /** The services' MESSAGING_NAMESPACE: their exchanges and queues are named under it. */
  readonly namespace = `gateway-e2e-${randomBytes(4).toString('hex')}`;
  private readonly services: SpawnedServices;

  private constructor(
    private readonly ports: ReturnType<typeof e2ePorts>,
    departments: Record<string, string>,
  ) {
    this.gatewayUrl = url(ports.gateway);
    this.services = new SpawnedServices('e2e', {
      ...departments,
      EMR_URL: url(ports.emr),
      LIS_URL: url(ports.lis),
      PACS_URL: url(ports.pacs),
      AUDIT_URL: url(ports.audit),
      PHARMACY_INVENTORY_URL: url(ports.inventory),
      MESSAGING_NAMESPACE: this.namespace,
      OUTBOX_POLL_MS: '100',
    });
  }

  /**
   * The hospital on the ports from `firstPort` on, its gateway started with `gateway` added to its
   * environment and every service with `departments` (where the LIS finds its analyzer, the PACS its archive);
   * with `inventory`, also the pharmacy's inventory on its seeded stock, behind the gateway's `/api`.
   */
  static async start(
    firstPort: number,
    gateway: Record<string, string> = {},
    departments: Record<string, string> = {},
    { inventory = false }: { inventory?: boolean } = {},
  ): Promise<E2eHospital> {
    const hospital = new E2eHospital(e2ePorts(firstPort), departments);
    try {
      await hospital.boot(gateway, inventory);
    } catch (error) {
      await hospital.stop();
      throw error;
    }
    return hospital;
  }

  private async boot(gateway: Record<string, string>, inventory: boolean): Promise<void> {
    for (const name of ['emr', 'lis', 'pacs', 'audit'])
      this.databases[name] = await this.services.database(name);
    if (inventory) {
      const stock = await this.services.database('pharmacy-inventory');
      this.databases['pharmacy-inventory'] = stock;
      await seedStock(stock);
      await this.services.spawn('pharmacy-inventory', this.ports.inventory, { PGDATABASE: stock.database });
    }
    const db = (name: string): Record<string, string> => ({
      PGDATABASE: this.databases[name]?.database ?? '',
    });
    await Promise.all([
      this.services.spawn('emr', this.ports.emr, db('emr')),
      this.services.spawn('lis', this.ports.lis, db('lis')),
      this.services.spawn('pacs', this.ports.pacs, db('pacs')),
      this.services.spawn('audit', this.ports.audit, db('audit')),
    ]);
    await this.services.spawn('gateway', this.ports.gateway, {
      GATEWAY_BACKENDS: inventory ? 'emr,audit,pharmacy-inventory' : 'emr,audit',
      BODY_LIMIT_BYTES: '65536',
      ...gateway,
    });
  }

  /**
   * Row counts and highest versions of every clinical table of every backend database (resources, history,
   * domain tables), listed from information_schema. Audit and messaging bookkeeping (`tx_*`: the outbox,
   * inbox and transaction logs; the audit service's database) is left out: a refused request is audited by
   * design, through the outbox, into the audit trail.
   */
  async clinicalTables(): Promise<TableSnapshot> {
    const snapshot: TableSnapshot = {};
    for (const [service, settings] of Object.entries(this.databases)) {
      // The audit service's database holds the audit trail only.
      if (service === 'audit') continue;
      const client = new Client({ ...settings });
      await client.connect();
      try {
        const tables = await client.query<{ table_name: string; versioned: boolean }>(
          `SELECT t.table_name,
                  EXISTS (SELECT 1 FROM information_schema.columns c
                           WHERE c.table_schema = t.table_schema AND c.table_name = t.table_name
                             AND c.column_name = 'version_id' AND c.data_type IN ('integer', 'bigint')) AS versioned
             FROM information_schema.tables t
            WHERE t.table_schema = 'public' AND t.table_type = 'BASE TABLE'
            ORDER BY t.table_name`,
        );
        for (const { table_name: table, versioned } of tables.rows) {
          if (BOOKKEEPING.test(table)) continue;
          const quoted = `"${table.replace(/"/g, '""')}"`;
          const [row] = (
            await client.query<{ rows: string; max: string | null }>(
              `SELECT count(*) AS rows, ${versioned ? 'max(version_id)' : 'NULL'} AS max FROM ${quoted}`,
            )
          ).rows;
          snapshot[`${service}.${table}`] = {
            rows: Number(row?.rows ?? 0),
            maxVersion: row?.max === null || row?.max === undefined ? null : Number(row.max),
          };
        }
      } finally {
        await client.end();
      }
    }
    return snapshot;
  }

  async stop(): Promise<void> {
    await this.services.stop();
  }
}
