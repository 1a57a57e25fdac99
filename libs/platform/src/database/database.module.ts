import { DynamicModule, Global, Inject, Injectable, Module, OnApplicationShutdown } from '@nestjs/common';
import { SERVICE_CONFIG, ServiceConfig } from '../config/service-config';
import { Database } from './database';

/** Closes the pool when the app shuts down. */
@Injectable()
class DatabaseLifecycle implements OnApplicationShutdown {
  constructor(@Inject(Database) private readonly database: Database) {}

  async onApplicationShutdown(): Promise<void> {
    await this.database.close();
  }
}

/** Provides the service's `Database` (its own PostgreSQL database) to every module. */
@Global()
@Module({})
export class DatabaseModule {
  static forRoot(): DynamicModule {
    return {
      module: DatabaseModule,
      providers: [
        {
          provide: Database,
          inject: [SERVICE_CONFIG],
          useFactory: (config: ServiceConfig) =>
            new Database(config.database, `hospital-${config.service.name}`),
        },
        DatabaseLifecycle,
      ],
      exports: [Database],
    };
  }
}
