import { createHash, randomBytes } from 'node:crypto';
import { Client } from 'pg';
import {
  BaseEnvironment,
  DatabaseSettings,
  loadEnvironment,
  serviceDatabaseName,
} from '../config/service-config';
import { MigrationClass, runMigrations } from '../database/migrations';

/** Connection settings for the server the tests use, from the same variables the services read. */
export function testServerSettings(): Omit<DatabaseSettings, 'database'> {
  const env = loadEnvironment(BaseEnvironment);
  return { host: env.PGHOST, port: env.PGPORT, user: env.PGUSER, password: env.PGPASSWORD, poolSize: 10 };
}

async function withAdmin<T>(work: (client: Client) => Promise<T>): Promise<T> {
  const client = new Client({ ...testServerSettings(), database: 'postgres' });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

const quote = (name: string): string => `"${name.replace(/"/g, '""')}"`;

/**
 * A fresh database for one test suite, copied from a template that holds the service's migrations.
 * The template is rebuilt when the migration list changes; creation is serialised with an advisory lock
 * so parallel jest workers never copy a template while another session is using it.
 */
export async function createTestDatabase(
  service: string,
  migrations: MigrationClass[],
): Promise<{ settings: DatabaseSettings; drop: () => Promise<void> }> {
  const fingerprint = createHash('sha256')
    .update(migrations.map((m) => m.name).join(','))
    .digest('hex')
    .slice(0, 16);
  const template = serviceDatabaseName(service, 'template');
  const name = serviceDatabaseName(service, `t${randomBytes(5).toString('hex')}`);
  await withAdmin(async (admin) => {
    await admin.query('SELECT pg_advisory_lock(hashtext($1))', [template]);
    try {
      const found = await admin.query<{ comment: string | null }>(
        `SELECT shobj_description(oid, 'pg_database') AS comment FROM pg_database WHERE datname = $1`,
        [template],
      );
      if (found.rows[0]?.comment !== fingerprint) {
        await admin.query(`DROP DATABASE IF EXISTS ${quote(template)} WITH (FORCE)`);
        await admin.query(`CREATE DATABASE ${quote(template)}`);
        await runMigrations({ ...testServerSettings(), database: template }, migrations);
        await admin.query(`COMMENT ON DATABASE ${quote(template)} IS '${fingerprint}'`);
      }
      await admin.query(`CREATE DATABASE ${quote(name)} TEMPLATE ${quote(template)}`);
    } finally {
      await admin.query('SELECT pg_advisory_unlock(hashtext($1))', [template]);
    }
  });
  return {
    settings: { ...testServerSettings(), database: name },
    drop: () =>
      withAdmin(async (admin) => {
        // A suite that failed mid-protocol may leave prepared transactions; they block DROP DATABASE.
        const prepared = await admin.query<{ gid: string }>(
          'SELECT gid FROM pg_prepared_xacts WHERE database = $1',
          [name],
        );
        for (const { gid } of prepared.rows) {
          const client = new Client({ ...testServerSettings(), database: name });
          await client.connect();
          await client.query(`ROLLBACK PREPARED '${gid.replace(/'/g, "''")}'`).finally(() => client.end());
        }
        await admin.query(`DROP DATABASE IF EXISTS ${quote(name)} WITH (FORCE)`);
      }),
  };
}
