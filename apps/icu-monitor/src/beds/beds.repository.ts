import { Injectable } from '@nestjs/common';
import { In } from 'typeorm';
import type { EntityExecutor } from '@hospital/platform';
import type { Spo2Scale } from '../news2/news2';
import { IcuBedEntity } from './icu-bed.entity';

/** A bed place and its admission, as the services use it. */
export interface Bed {
  bedId: string;
  admission: { patientId: string; spo2Scale: Spo2Scale; admittedAt: Date } | null;
}

function bedOf(row: IcuBedEntity): Bed {
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
  async findManyLocked(exec: EntityExecutor, bedIds: readonly string[]): Promise<Bed[]> {
    if (bedIds.length === 0) return [];
    const rows = await exec.repository(IcuBedEntity).find({
      where: { bedId: In(bedIds) },
      order: { bedId: 'ASC' },
      lock: { mode: 'pessimistic_write' },
    });
    return rows.map(bedOf);
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
