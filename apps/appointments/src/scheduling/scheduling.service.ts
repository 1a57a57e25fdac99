import { randomUUID } from 'node:crypto';
import { Inject, Injectable } from '@nestjs/common';
import type { Schedule, Slot } from '@medplum/fhirtypes';
import { FhirResourceStore, type Stored } from '@hospital/fhir';
import { Database, type Session } from '@hospital/platform';
import { PostgresCapacityLedger } from '@hospital/transactions';
import { CONSTRAINTS, violatedConstraint } from '../database/constraints';
import { scheduleRequestOf, slotRequestOf } from './schedule-request';
import { SchedulingErrorCode, SchedulingException } from './scheduling.exception';
import { type FreeSlotQuery, SchedulingRepository } from './scheduling.repository';
import { slotCapacity, slotResource } from './slot-capacity';
import type { SlotEntity, SlotStatus } from './slot.entity';

/**
 * Schedules and their slots: each created as a FHIR resource and a relational row in one local
 * transaction, under the same id. The row carries the constraints: a slot's interval ends after it starts
 * (CHECK) and overlaps no other slot of its schedule (the exclusion constraint, which answers two
 * overlapping slots created at once too). The horizon and the service type are checked against the
 * schedule's row: schedules are never changed, so the check cannot go stale. Each slot is also registered
 * as reservable capacity (`slot:<id>`, one consult if free) in the same transaction.
 */
@Injectable()
export class SchedulingService {
  constructor(
    @Inject(Database) private readonly db: Database,
    @Inject(FhirResourceStore) private readonly store: FhirResourceStore,
    @Inject(SchedulingRepository) private readonly repository: SchedulingRepository,
    @Inject(PostgresCapacityLedger) private readonly capacity: PostgresCapacityLedger,
  ) {}

  async createSchedule(schedule: Schedule): Promise<Stored<Schedule>> {
    const request = scheduleRequestOf(schedule);
    const scheduleId = randomUUID();
    return this.db.transaction(async (tx) => {
      await this.repository.insertSchedule(tx, { scheduleId, ...request });
      return this.store.create(tx, schedule, { id: scheduleId });
    });
  }

  async createSlot(slot: Slot): Promise<Stored<Slot>> {
    const request = slotRequestOf(slot);
    const slotId = randomUUID();
    try {
      return await this.db.transaction(async (tx) => {
        const schedule = await this.repository.findSchedule(tx, request.scheduleId);
        if (schedule === undefined) {
          throw new SchedulingException(
            SchedulingErrorCode.UnknownSchedule,
            `No Schedule/${request.scheduleId}`,
            ['Slot.schedule'],
          );
        }
        if (request.start < schedule.horizonStart || request.end > schedule.horizonEnd) {
          throw new SchedulingException(
            SchedulingErrorCode.OutsideHorizon,
            `The slot does not lie within the planning horizon of Schedule/${schedule.scheduleId}`,
            ['Slot.start', 'Slot.end'],
          );
        }
        if (!schedule.serviceCodes.includes(request.serviceCode)) {
          throw new SchedulingException(
            SchedulingErrorCode.ServiceNotOffered,
            `Schedule/${schedule.scheduleId} does not offer service type ${request.serviceCode}`,
            ['Slot.serviceType'],
          );
        }
        await this.repository.insertSlot(tx, {
          slotId,
          scheduleId: schedule.scheduleId,
          practitionerId: schedule.practitionerId,
          serviceCode: request.serviceCode,
          startAt: request.start,
          endAt: request.end,
          status: request.status,
        });
        await this.capacity.register(tx, slotResource(slotId), slotCapacity(request.status));
        return this.store.create(tx, slot, { id: slotId });
      });
    } catch (error) {
      if (violatedConstraint(error) === CONSTRAINTS.noSlotOverlap) {
        throw new SchedulingException(
          SchedulingErrorCode.OverlappingSlot,
          `The slot overlaps another slot of Schedule/${request.scheduleId}`,
          ['Slot.start', 'Slot.end'],
        );
      }
      throw error;
    }
  }

  /** The slot's row, read in the caller's transaction (no lock: bookings are ordered by their unique index). */
  findSlot(tx: Session, slotId: string): Promise<SlotEntity | undefined> {
    return this.repository.findSlot(tx, slotId);
  }

  /**
   * Marks the slot free or busy, in its row and its FHIR resource, in the caller's transaction. Only a
   * transaction that holds (or has just released) the slot's booking calls it, so the changes of one slot
   * are ordered by the booking index: the next booking of the slot waits for this transaction to end.
   */
  async setSlotStatus(tx: Session, slotId: string, status: SlotStatus): Promise<void> {
    await this.repository.setSlotStatus(tx, slotId, status);
    const slot = await this.store.read<Slot>(tx, 'Slot', slotId);
    if (slot.status !== status) await this.store.update(tx, { ...slot, status });
  }

  freeSlots(query: FreeSlotQuery): Promise<SlotEntity[]> {
    // On a session of the service's pool: the search runs on every booking attempt, and the DataSource's
    // own pool (two connections, for occasional reads) would queue it behind the others.
    return this.db.withSession((session) => this.repository.freeSlots(session, query));
  }
}
