import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * History rows lose their foreign key to fhir_resource, for the reason the search index lost its own
 * (FhirSearchIndexLean1763700000200): a history row is written by the same statement as the version it
 * records (FhirResourceStore), resources are only ever soft-deleted, and the key's check ran a lookup of
 * the resource on every write.
 */
export class FhirHistoryLean1763900000000 implements MigrationInterface {
  name = 'FhirHistoryLean1763900000000';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(
      'ALTER TABLE fhir_resource_history DROP CONSTRAINT fhir_resource_history_resource_type_id_fkey',
    );
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(
      `ALTER TABLE fhir_resource_history ADD FOREIGN KEY (resource_type, id)
         REFERENCES fhir_resource (resource_type, id) ON DELETE CASCADE`,
    );
  }
}
