import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The PACS's imaging workflow. `pacs_imaging_order`: one row per imaging order the PACS took from the
 * EMR's record update, under its accession number and pre-assigned StudyInstanceUID; `completed_at` once
 * its study was stored. `pacs_study_intake`: the one cursor of Orthanc's change feed the studies poller has
 * read up to, and how many stable studies it skipped (no order for their accession number).
 */
export class ImagingWorkflow1766300000000 implements MigrationInterface {
  name = 'ImagingWorkflow1766300000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE pacs_imaging_order (
        accession_number   text PRIMARY KEY,
        service_request_id text NOT NULL UNIQUE,
        patient_id         text NOT NULL,
        study_instance_uid text NOT NULL UNIQUE,
        created_at         timestamptz NOT NULL DEFAULT now(),
        completed_at       timestamptz,
        imaging_study_id   text
      )`);
    await q.query(`
      CREATE TABLE pacs_study_intake (
        id              smallint PRIMARY KEY CHECK (id = 1),
        last_change     bigint NOT NULL DEFAULT 0,
        studies_applied bigint NOT NULL DEFAULT 0,
        studies_skipped bigint NOT NULL DEFAULT 0,
        updated_at      timestamptz NOT NULL DEFAULT now()
      )`);
    await q.query(`INSERT INTO pacs_study_intake (id) VALUES (1)`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE pacs_study_intake`);
    await q.query(`DROP TABLE pacs_imaging_order`);
  }
}
