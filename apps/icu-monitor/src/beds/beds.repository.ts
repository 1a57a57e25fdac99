import { Injectable } from '@nestjs/common';
import type { EntityExecutor, SqlExecutor } from '@hospital/platform';
import type { Spo2Scale } from '../news2/news2';
import { IcuBedEntity } from './icu-bed.entity';

/** A bed place and its admission, as the services use it. */
export interface Bed {
  bedId: string;
  admission: { patientId: string; spo2Scale: Spo2Scale; admittedAt: Date } | null;
}

function bedOf(row: Pick<IcuBedEntity, 'bedId' | 'patientId' | 'spo2Scale' | 'admittedAt'>): Bed {
  const admitted = row.patientId !== null && row.spo2Scale !== null && row.admittedAt !== null;
  return {
    bedId: row.bedId,
    admission: admitted
      ? {
          patientId: row.patientId!,
          spo2Scale: Number(row.spo2Scale) as Spo2Scale,
          admittedAt: row.admittedAt!,
        }
      : null,
  };
}

/**
 * `icu_bed` through its TypeORM entity. Every method runs on the executor it is given: a session (the
 * transaction of an admission, or of a vital, which locks the bed so that every vital of its patient is
 * scored one after another) or the Database for a read outside any transaction.
 */
@Injectable()
export class BedsRepository {
  async list(exec: EntityExecutor): Promise<Bed[]> {
    const rows = await exec.repository(IcuBedEntity).find({ order: { bedId: 'ASC' } });
    return rows.map(bedOf);
  }

  /** With `lock`, inside a transaction: SELECT … FOR UPDATE. */
  async find(exec: EntityExecutor, bedId: string, lock = false): Promise<Bed | undefined> {
    const row = await exec.repository(IcuBedEntity).findOne({
      where: { bedId },
      lock: lock ? { mode: 'pessimistic_write' } : undefined,
    });
    return row === null ? undefined : bedOf(row);
  }

  /**
   * The beds among `bedIds` the unit has, each row locked (SELECT … ORDER BY bed_id FOR UPDATE: rows are
   * locked in id order, so two transactions locking overlapping sets wait for each other, never deadlock).
   */
  async findManyLocked(exec: SqlExecutor, bedIds: readonly string[]): Promise<Bed[]> {
    // Raw SQL: the vitals' hot path (one statement per group of vitals).
    const rows = await exec.query<{
      bed_id: string;
      patient_id: string | null;
      spo2_scale: number | null;
      admitted_at: Date | null;
    }>(
      `SELECT bed_id, patient_id, spo2_scale, admitted_at FROM icu_bed
        WHERE bed_id = ANY($1::text[]) ORDER BY bed_id FOR UPDATE`,
      [bedIds],
    );
    return rows.map((row) =>
      bedOf({
        bedId: row.bed_id,
        patientId: row.patient_id,
        spo2Scale: row.spo2_scale as Spo2Scale | null,
        admittedAt: row.admitted_at,
      }),
    );
  }

  /** The bed the patient is admitted to, if any. */
  async findByPatient(exec: EntityExecutor, patientId: string): Promise<Bed | undefined> {
    const row = await exec.repository(IcuBedEntity).findOneBy({ patientId });
    return row === null ? undefined : bedOf(row);
  }

  /** Admits `patientId` (admitted now), or changes the SpO2 scale of the patient already in the bed. */
  async admit(exec: EntityExecutor, bedId: string, patientId: string, spo2Scale: Spo2Scale, isNew: boolean) {
    await exec
      .repository(IcuBedEntity)
      .update({ bedId }, isNew ? { patientId, spo2Scale, admittedAt: () => 'now()' } : { spo2Scale });
  }

  async discharge(exec: EntityExecutor, bedId: string): Promise<void> {
    await exec
      .repository(IcuBedEntity)
      .update({ bedId }, { patientId: null, spo2Scale: null, admittedAt: null });
  }
}
