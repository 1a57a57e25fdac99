// Loaded lazily by postgres.ts: TypeORM is only needed when a database has pending migrations.
export { runMigrations } from '@hospital/platform/database/migrations';
