import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Leaner search-index writes, which every resource write pays for.
 *
 * The foreign key to fhir_resource goes: index rows are written and deleted by the same statement as their
 * resource (FhirResourceStore), resources are only ever soft-deleted, and the key's check ran once per
 * index row on every write.
 *
 * Search-index rows of one kind fill one kind of column (strings `value_norm`, dates `date_lo/hi`,
 * references `ref`), so each per-kind index only needs the rows that have its column: partial indexes
 * spare every write the index entries no search can use. Queries on those columns (`=`, `LIKE`, `<`…)
 * imply `IS NOT NULL`, so the planner still picks them.
 */
export class FhirSearchIndexLean1763700000200 implements MigrationInterface {
  name = 'FhirSearchIndexLean1763700000200';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(
      'ALTER TABLE fhir_search_index DROP CONSTRAINT fhir_search_index_resource_type_resource_id_fkey',
    );
    await queryRunner.query(
      'DROP INDEX fhir_search_index_string_idx, fhir_search_index_date_idx, fhir_search_index_ref_idx',
    );
    await queryRunner.query(
      `CREATE INDEX fhir_search_index_string_idx ON fhir_search_index (resource_type, code, value_norm text_pattern_ops)
         WHERE value_norm IS NOT NULL`,
    );
    await queryRunner.query(
      `CREATE INDEX fhir_search_index_date_idx ON fhir_search_index (resource_type, code, date_lo, date_hi)
         WHERE date_lo IS NOT NULL`,
    );
    await queryRunner.query(
      `CREATE INDEX fhir_search_index_ref_idx ON fhir_search_index (resource_type, code, ref) WHERE ref IS NOT NULL`,
    );
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(
      `ALTER TABLE fhir_search_index ADD FOREIGN KEY (resource_type, resource_id)
         REFERENCES fhir_resource (resource_type, id) ON DELETE CASCADE`,
    );
    await queryRunner.query(
      'DROP INDEX fhir_search_index_string_idx, fhir_search_index_date_idx, fhir_search_index_ref_idx',
    );
    await queryRunner.query(
      `CREATE INDEX fhir_search_index_string_idx ON fhir_search_index (resource_type, code, value_norm text_pattern_ops)`,
    );
    await queryRunner.query(
      `CREATE INDEX fhir_search_index_date_idx ON fhir_search_index (resource_type, code, date_lo, date_hi)`,
    );
    await queryRunner.query(
      `CREATE INDEX fhir_search_index_ref_idx ON fhir_search_index (resource_type, code, ref)`,
    );
  }
}
