// The SQL of FhirResourceStore: the statements that write a resource's row, its history row and its
// search index rows in one round trip. The store (fhir-resource-store.ts) decides what to write.
import { hotStatement } from '@hospital/platform';
import type { SearchIndexRow } from '../search/search-index';

export type WriteKind = 'insert' | 'update' | 'delete';

/** The index rows of a resource as the column arrays the write statements unnest. */
export function indexArrays(rows: SearchIndexRow[]): unknown[] {
  return [
    rows.map((r) => r.code),
    rows.map((r) => r.system),
    rows.map((r) => r.value),
    rows.map((r) => r.valueNorm),
    rows.map((r) => r.dateLo),
    rows.map((r) => r.dateHi),
    rows.map((r) => r.ref),
  ];
}

/**
 * One statement writes the resource row, its history row and its index rows, so a write is atomic
 * even on an executor without a transaction; inside a transaction it commits or rolls back (or is
 * prepared) with the caller's other work. Guarded by the version the caller read, so a concurrent
 * writer makes it return no row instead of overwriting.
 */
export function writeStatement(kind: WriteKind): string {
  const history = `
    hist AS (
      INSERT INTO fhir_resource_history (resource_type, id, version_id, last_updated, deleted, content)
      SELECT resource_type, id, version_id, last_updated, deleted, CASE WHEN deleted THEN NULL ELSE content END FROM res
    )`;
  const clearIndex = `
    del AS (
      DELETE FROM fhir_search_index i USING res WHERE i.resource_type = res.resource_type AND i.resource_id = res.id
    )`;
  const fillIndex = `
    idx AS (
      INSERT INTO fhir_search_index (resource_type, resource_id, code, system, value, value_norm, date_lo, date_hi, ref)
      SELECT res.resource_type, res.id, u.code, u.system, u.value, u.value_norm, u.date_lo, u.date_hi, u.ref
      FROM res, unnest($6::text[], $7::text[], $8::text[], $9::text[], $10::timestamptz[], $11::timestamptz[], $12::text[])
        AS u(code, system, value, value_norm, date_lo, date_hi, ref)
    )`;
  switch (kind) {
    case 'insert':
      return `
        WITH res AS (
          INSERT INTO fhir_resource (resource_type, id, version_id, last_updated, deleted, content)
          VALUES ($1, $2, $3, $4, false, $5::jsonb)
          ON CONFLICT (resource_type, id) DO NOTHING
          RETURNING resource_type, id, version_id, last_updated, deleted, content
        ),${history},${fillIndex}
        SELECT version_id FROM res`;
    case 'update':
      return `
        WITH res AS (
          UPDATE fhir_resource SET version_id = $3, last_updated = $4, deleted = false, content = $5::jsonb
          WHERE resource_type = $1 AND id = $2 AND version_id = $13
          RETURNING resource_type, id, version_id, last_updated, deleted, content
        ),${history},${clearIndex},${fillIndex}
        SELECT version_id FROM res`;
    case 'delete':
      return `
        WITH res AS (
          UPDATE fhir_resource SET version_id = $3, last_updated = $4, deleted = true
          WHERE resource_type = $1 AND id = $2 AND version_id = $5 AND NOT deleted
          RETURNING resource_type, id, version_id, last_updated, deleted, content
        ),${history},${clearIndex}
        SELECT version_id FROM res`;
  }
}

export const INSERT_STATEMENT = hotStatement(writeStatement('insert'));

/**
 * Creates several resources in one statement: their rows, history rows and index rows (each index row
 * carries the ordinal of its resource). Returns the resources it inserted; one whose id is taken is left out.
 */
export const INSERT_MANY_STATEMENT = hotStatement(`
  WITH input AS (
    SELECT * FROM unnest($1::text[], $2::text[], $3::timestamptz[], $4::jsonb[]) WITH ORDINALITY
      AS r(resource_type, id, last_updated, content, ord)
  ), res AS (
    INSERT INTO fhir_resource (resource_type, id, version_id, last_updated, deleted, content)
    SELECT resource_type, id, 1, last_updated, false, content FROM input ORDER BY ord
    ON CONFLICT (resource_type, id) DO NOTHING
    RETURNING resource_type, id, version_id, last_updated, deleted, content
  ), hist AS (
    INSERT INTO fhir_resource_history (resource_type, id, version_id, last_updated, deleted, content)
    SELECT resource_type, id, version_id, last_updated, deleted, content FROM res
  ), idx AS (
    INSERT INTO fhir_search_index (resource_type, resource_id, code, system, value, value_norm, date_lo, date_hi, ref)
    SELECT input.resource_type, input.id, u.code, u.system, u.value, u.value_norm, u.date_lo, u.date_hi, u.ref
      FROM unnest($5::bigint[], $6::text[], $7::text[], $8::text[], $9::text[], $10::timestamptz[], $11::timestamptz[], $12::text[])
           AS u(ord, code, system, value, value_norm, date_lo, date_hi, ref)
      JOIN input ON input.ord = u.ord
     WHERE EXISTS (SELECT 1 FROM res WHERE res.resource_type = input.resource_type AND res.id = input.id)
  )
  SELECT resource_type, id FROM res`);
/** Clears the resource's index rows by a join, so it is planned per call (see hotStatement). */
export const UPDATE_STATEMENT = writeStatement('update');
