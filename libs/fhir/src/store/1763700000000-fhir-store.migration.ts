import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Schema of `FhirResourceStore`: current versions, every version, and the search index. Services
 * list this class in their migrations; it is append-only like any migration (later changes to the
 * store's schema come as new classes).
 */
export class FhirStore1763700000000 implements MigrationInterface {
  name = 'FhirStore1763700000000';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`
      CREATE TABLE fhir_resource (
        resource_type text NOT NULL,
        id text NOT NULL,
        version_id integer NOT NULL CHECK (version_id > 0),
        last_updated timestamptz NOT NULL,
        deleted boolean NOT NULL DEFAULT false,
        content jsonb NOT NULL,
        PRIMARY KEY (resource_type, id)
      )`);
    await queryRunner.query(
      `CREATE INDEX fhir_resource_recent_idx ON fhir_resource (resource_type, last_updated DESC, id) WHERE NOT deleted`,
    );
    await queryRunner.query(`
      CREATE TABLE fhir_resource_history (
        resource_type text NOT NULL,
        id text NOT NULL,
        version_id integer NOT NULL CHECK (version_id > 0),
        last_updated timestamptz NOT NULL,
        deleted boolean NOT NULL DEFAULT false,
        content jsonb,
        PRIMARY KEY (resource_type, id, version_id),
        CHECK (deleted OR content IS NOT NULL),
        FOREIGN KEY (resource_type, id) REFERENCES fhir_resource (resource_type, id) ON DELETE CASCADE
      )`);
    await queryRunner.query(`
      CREATE TABLE fhir_search_index (
        entry_id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        resource_type text NOT NULL,
        resource_id text NOT NULL,
        code text NOT NULL,
        system text,
        value text,
        value_norm text,
        date_lo timestamptz,
        date_hi timestamptz,
        ref text,
        FOREIGN KEY (resource_type, resource_id) REFERENCES fhir_resource (resource_type, id) ON DELETE CASCADE
      )`);
    await queryRunner.query(
      `CREATE INDEX fhir_search_index_resource_idx ON fhir_search_index (resource_type, resource_id)`,
    );
    await queryRunner.query(
      `CREATE INDEX fhir_search_index_token_idx ON fhir_search_index (resource_type, code, value, system)`,
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

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query('DROP TABLE IF EXISTS fhir_search_index');
    await queryRunner.query('DROP TABLE IF EXISTS fhir_resource_history');
    await queryRunner.query('DROP TABLE IF EXISTS fhir_resource');
  }
}
