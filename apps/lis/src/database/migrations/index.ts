import { MigrationClass } from '@hospital/platform';

export const migrations: MigrationClass[] = [];
