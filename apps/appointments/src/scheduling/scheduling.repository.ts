import { Injectable } from '@nestjs/common';
import type { EntityExecutor } from '@hospital/platform';
import { ScheduleEntity } from './schedule.entity';
import { SlotEntity, type SlotStatus } from './slot.entity';

/** The free slots a query asks for: a practitioner's, in [from, to), of one service code if given. */
export interface FreeSlotQuery {
  practitionerId: string;
  serviceCode?: string;
  from: Date;
  to: Date;
  limit: number;
}

/**
 * `appointment_schedule` and `appointment_slot` through their TypeORM entities, on the executor given: the
 * session of a write's transaction, or the Database for a read outside any.
 */
@Injectable()
export class SchedulingRepository {
  async insertSchedule(exec: EntityExecutor, schedule: ScheduleEntity): Promise<void> {
    await exec.repository(ScheduleEntity).insert(schedule);
  }

  async findSchedule(exec: EntityExecutor, scheduleId: string): Promise<ScheduleEntity | undefined> {
    return (await exec.repository(ScheduleEntity).findOneBy({ scheduleId })) ?? undefined;
  }

  /** Inserts the slot; an overlap with another slot of its schedule violates `appointment_slot_no_overlap`. */
  async insertSlot(exec: EntityExecutor, slot: SlotEntity): Promise<void> {
    await exec.repository(SlotEntity).insert(slot);
  }

  async findSlot(exec: EntityExecutor, slotId: string): Promise<SlotEntity | undefined> {
    return (await exec.repository(SlotEntity).findOneBy({ slotId })) ?? undefined;
  }

  async setSlotStatus(exec: EntityExecutor, slotId: string, status: SlotStatus): Promise<void> {
    await exec.repository(SlotEntity).update({ slotId }, { status });
  }

  /** Free slots by start (the partial index `appointment_slot_free` serves it). */
  async freeSlots(exec: EntityExecutor, query: FreeSlotQuery): Promise<SlotEntity[]> {
    const select = exec
      .repository(SlotEntity)
      .createQueryBuilder('slot')
      .where('slot.status = :free', { free: 'free' })
      .andWhere('slot.practitionerId = :practitionerId', { practitionerId: query.practitionerId })
      .andWhere('slot.startAt >= :from AND slot.startAt < :to', { from: query.from, to: query.to });
    if (query.serviceCode !== undefined) {
      select.andWhere('slot.serviceCode = :serviceCode', { serviceCode: query.serviceCode });
    }
    return select.orderBy('slot.startAt', 'ASC').addOrderBy('slot.slotId', 'ASC').take(query.limit).getMany();
  }
}
