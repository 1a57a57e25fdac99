export * from './config/service-config';
export * from './database/sql-executor';
export * from './database/database';
export * from './database/database.module';
export * from './database/migrations';
