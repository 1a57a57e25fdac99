import { DynamicModule, Global, Inject, Injectable, Module, OnApplicationShutdown } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { DataSource, DataSourceOptions } from 'typeorm';
import { DatabaseSettings, SERVICE_CONFIG, ServiceConfig } from '../config/service-config';
import { Database } from './database';
import { typeormConnection } from './migrations';
import type { EntityClass } from './session-entity-manager';

/** Connections of the TypeORM DataSource's own pool: it serves only statements outside any session. */
export const ENTITY_POOL_SIZE = 2;

export interface DatabaseOptions {
  /**
   * The service's TypeORM entities (its relational domain tables). With none, the service has no TypeORM
   * DataSource at all; with some, sessions offer `session.repository(Entity)` and feature modules may
   * import `TypeOrmModule.forFeature([...])`.
   */
  entities?: EntityClass[];
}

/**
 * The DataSource options of a service that declares entities: the same database and credentials as its
 * pool, the schema left to the migrations (never synchronised, no migrations run from here), no logs.
 */
export function entityDataSourceOptions(
  settings: DatabaseSettings,
  applicationName: string,
  entities: EntityClass[],
): DataSourceOptions {
  return {
    ...typeormConnection(settings),
    applicationName,
    entities,
    synchronize: false,
    migrationsRun: false,
    installExtensions: false,
    logging: false,
    poolSize: ENTITY_POOL_SIZE,
    connectTimeoutMS: 5_000,
    extra: { idleTimeoutMillis: 30_000 },
  };
}

/** Closes the pool when the app shuts down (TypeOrmModule destroys its DataSource itself). */
@Injectable()
class DatabaseLifecycle implements OnApplicationShutdown {
  constructor(@Inject(Database) private readonly database: Database) {}

  async onApplicationShutdown(): Promise<void> {
    await this.database.close();
  }
}

/**
 * Provides the service's `Database` (its own PostgreSQL database) to every module, and, when the service
 * declares entities, the TypeORM DataSource its sessions bridge to (see session-entity-manager.ts).
 */
@Global()
@Module({})
export class DatabaseModule {
  static forRoot(options: DatabaseOptions = {}): DynamicModule {
    const entities = options.entities ?? [];
    const typeorm =
      entities.length === 0
        ? []
        : [
            TypeOrmModule.forRootAsync({
              inject: [SERVICE_CONFIG],
              useFactory: (config: ServiceConfig) =>
                entityDataSourceOptions(config.database, applicationName(config), entities),
            }),
          ];
    return {
      module: DatabaseModule,
      imports: typeorm,
      providers: [
        {
          provide: Database,
          inject: [SERVICE_CONFIG, { token: DataSource, optional: true }],
          useFactory: (config: ServiceConfig, dataSource?: DataSource) =>
            new Database(config.database, applicationName(config), dataSource),
        },
        DatabaseLifecycle,
      ],
      exports: [Database, ...typeorm],
    };
  }
}

const applicationName = (config: ServiceConfig): string => `hospital-${config.service.name}`;
