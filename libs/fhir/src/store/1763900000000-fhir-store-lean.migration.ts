import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Leaner writes again (after FhirSearchIndexLean1763700000200), each measured on the record update:
 *
 * - History rows lose their foreign key to fhir_resource, for the reason the search index lost its own: a
 *   history row is written by the same statement as the version it records (FhirResourceStore), resources
 *   are only ever soft-deleted, and the key's check looked the resource up on every write.
 * - Search-index rows lose `entry_id`, a surrogate key nothing reads: every index row cost a sequence
 *   step and an entry in its primary-key index. Rows are found and deleted by their resource.
 */
export class FhirStoreLean1763900000000 implements MigrationInterface {
  name = 'FhirStoreLean1763900000000';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(
      'ALTER TABLE fhir_resource_history DROP CONSTRAINT IF EXISTS fhir_resource_history_resource_type_id_fkey',
    );
    await queryRunner.query('ALTER TABLE fhir_search_index DROP COLUMN entry_id');
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(
      'ALTER TABLE fhir_search_index ADD COLUMN entry_id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY',
    );
    await queryRunner.query(
      `ALTER TABLE fhir_resource_history ADD FOREIGN KEY (resource_type, id)
         REFERENCES fhir_resource (resource_type, id) ON DELETE CASCADE`,
    );
  }
}
