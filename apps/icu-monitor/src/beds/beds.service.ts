import { Inject, Injectable } from '@nestjs/common';
import { Database, pgErrorCode, PgErrorCode, type Session } from '@hospital/platform';
import type { Spo2Scale } from '../news2/news2';
import { BedErrorCode, BedException } from './beds.exception';
import { type Bed, BedsRepository } from './beds.repository';

/** A bed id as the unit names its places (`ICU-01`): letters, digits and dashes. */
export const BED_ID = /^[A-Za-z0-9-]{1,64}$/;

/**
 * The unit's beds and admissions. An admission and a vital of the same bed take the bed's row lock, so a
 * vital is scored against the admission that holds when it commits, never one changed under it.
 */
@Injectable()
export class BedsService {
  constructor(
    @Inject(Database) private readonly db: Database,
    @Inject(BedsRepository) private readonly beds: BedsRepository,
  ) {}

  list(): Promise<Bed[]> {
    return this.beds.list(this.db);
  }

  /**
   * Admits the patient to the bed, or changes the SpO2 scale of the patient already there. 404 for a bed
   * the unit does not have, 409 when another patient is in it or this patient is in another bed.
   */
  async admit(bedId: string, patientId: string, spo2Scale: Spo2Scale): Promise<Bed> {
    try {
      return await this.db.transaction(async (tx) => {
        const bed = await this.lock(tx, bedId);
        const current = bed.admission?.patientId;
        if (current !== undefined && current !== patientId) {
          throw new BedException(BedErrorCode.BedOccupied, `Bed ${bedId} is occupied: discharge first`, [
            'bedId',
          ]);
        }
        if (current === undefined) {
          const elsewhere = await this.beds.findByPatient(tx, patientId);
          if (elsewhere !== undefined) throw patientInAnotherBed(elsewhere.bedId);
        }
        await this.beds.admit(tx, bedId, patientId, spo2Scale, current === undefined);
        return (await this.beds.find(tx, bedId)) as Bed;
      });
    } catch (error) {
      // Two admissions of one patient to two beds at once: the partial unique index lets one through.
      if (pgErrorCode(error) === PgErrorCode.UniqueViolation) throw patientInAnotherBed();
      throw error;
    }
  }

  /** Empties the bed (idempotent: an empty bed stays empty). */
  async discharge(bedId: string): Promise<Bed> {
    return this.db.transaction(async (tx) => {
      const bed = await this.lock(tx, bedId);
      if (bed.admission !== null) await this.beds.discharge(tx, bedId);
      return { bedId, admission: null };
    });
  }

  /**
   * Inside a transaction: the bed, locked until the transaction ends; undefined for a bed the unit does not
   * have. Vitals take this lock too: it orders every write about the bed's patient.
   */
  async findLocked(tx: Session, bedId: string): Promise<Bed | undefined> {
    return this.beds.find(tx, bedId, true);
  }

  /** The beds among `bedIds` the unit has, locked in id order for the transaction (vitals of a group). */
  findManyLocked(tx: Session, bedIds: readonly string[]): Promise<Bed[]> {
    return this.beds.findManyLocked(tx, bedIds);
  }

  /** `findLocked` for the bed API: 400 for a malformed id, 404 for a bed the unit does not have. */
  private async lock(tx: Session, bedId: string): Promise<Bed> {
    assertBedId(bedId);
    const bed = await this.findLocked(tx, bedId);
    if (bed === undefined) {
      throw new BedException(BedErrorCode.UnknownBed, `No bed ${bedId} in the unit`, ['bedId']);
    }
    return bed;
  }
}

export function assertBedId(bedId: string): void {
  if (!BED_ID.test(bedId)) {
    throw new BedException(BedErrorCode.InvalidBedId, 'bedId must be letters, digits and dashes', ['bedId']);
  }
}

function patientInAnotherBed(bedId?: string): BedException {
  return new BedException(
    BedErrorCode.PatientInAnotherBed,
    bedId === undefined
      ? 'The patient is admitted to another bed: discharge first'
      : `The patient is admitted to bed ${bedId}: discharge first`,
    ['patientId'],
  );
}
