import { DataSource, MigrationInterface } from 'typeorm';
import { DatabaseSettings } from '../config/service-config';

export type MigrationClass = new () => MigrationInterface;

/** Where TypeORM connects: the service's database, as its `pg` pool reaches it. */
export function typeormConnection(settings: DatabaseSettings) {
  return {
    type: 'postgres',
    host: settings.host,
    port: settings.port,
    username: settings.user,
    password: settings.password,
    database: settings.database,
  } as const;
}

/** A TypeORM DataSource used only to run a service's migrations (never at request time). */
export function migrationDataSource(settings: DatabaseSettings, migrations: MigrationClass[]): DataSource {
  return new DataSource({
    ...typeormConnection(settings),
    migrations,
    migrationsTableName: 'schema_migrations',
    migrationsTransactionMode: 'each',
    logging: false,
  });
}

/** Applies pending migrations and returns the names of those it ran. */
export async function runMigrations(
  settings: DatabaseSettings,
  migrations: MigrationClass[],
): Promise<string[]> {
  const source = migrationDataSource(settings, migrations);
  await source.initialize();
  try {
    const ran = await source.runMigrations({ transaction: 'each' });
    return ran.map((m) => m.name);
  } finally {
    await source.destroy();
  }
}
