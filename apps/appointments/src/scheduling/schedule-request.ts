import type { Schedule, Slot } from '@medplum/fhirtypes';
import { codesOf, idReferenced, instantOf } from '../fhir/references';
import type { SlotStatus } from './slot.entity';
import { SchedulingErrorCode, SchedulingException } from './scheduling.exception';

/** What a Schedule (valid FHIR R4) asks for. */
export interface ScheduleRequest {
  practitionerId: string;
  serviceCodes: string[];
  horizonStart: Date;
  horizonEnd: Date;
}

/** What a Slot (valid FHIR R4) asks for. */
export interface SlotRequest {
  scheduleId: string;
  serviceCode: string;
  start: Date;
  end: Date;
  status: SlotStatus;
}

const SLOT_STATUSES: readonly string[] = ['free', 'busy'] satisfies SlotStatus[];

/**
 * Checks a Schedule: one actor, a Practitioner; at least one service type code; a planning horizon with
 * times and zones, ending after it starts. A SchedulingException (400) names the element otherwise.
 */
export function scheduleRequestOf(schedule: Schedule): ScheduleRequest {
  const actors = schedule.actor ?? [];
  const practitionerId = actors.length === 1 ? idReferenced(actors[0], 'Practitioner') : undefined;
  if (practitionerId === undefined) {
    throw new SchedulingException(
      SchedulingErrorCode.PractitionerRequired,
      'A Schedule has one actor, a reference Practitioner/<id>',
      ['Schedule.actor'],
    );
  }
  const serviceCodes = codesOf(schedule.serviceType);
  if (serviceCodes.length === 0) {
    throw new SchedulingException(
      SchedulingErrorCode.ServiceTypeRequired,
      'A Schedule names the service types it offers (serviceType with a coded value)',
      ['Schedule.serviceType'],
    );
  }
  const horizonStart = instantOf(schedule.planningHorizon?.start);
  const horizonEnd = instantOf(schedule.planningHorizon?.end);
  if (horizonStart === undefined || horizonEnd === undefined || horizonEnd <= horizonStart) {
    throw new SchedulingException(
      SchedulingErrorCode.HorizonRequired,
      'A Schedule has a planningHorizon with start and end (dateTimes with time and zone), end after start',
      ['Schedule.planningHorizon'],
    );
  }
  return { practitionerId, serviceCodes, horizonStart, horizonEnd };
}

/**
 * Checks a Slot on its own: a reference Schedule/<id>, one service type code, end after start, status free
 * or busy. Whether it fits its schedule (horizon, service, other slots) is checked against the database.
 */
export function slotRequestOf(slot: Slot): SlotRequest {
  const scheduleId = idReferenced(slot.schedule, 'Schedule');
  if (scheduleId === undefined) {
    throw new SchedulingException(
      SchedulingErrorCode.ScheduleRequired,
      'A Slot names its schedule as a reference Schedule/<id>',
      ['Slot.schedule'],
    );
  }
  const codes = codesOf(slot.serviceType);
  if (codes.length !== 1) {
    throw new SchedulingException(
      SchedulingErrorCode.ServiceTypeRequired,
      'A Slot offers one service type (serviceType with one coded value)',
      ['Slot.serviceType'],
    );
  }
  if (!SLOT_STATUSES.includes(slot.status)) {
    throw new SchedulingException(
      SchedulingErrorCode.UnsupportedStatus,
      `A Slot is created free or busy, not ${slot.status}`,
      ['Slot.status'],
    );
  }
  const start = instantOf(slot.start);
  const end = instantOf(slot.end);
  if (start === undefined || end === undefined || end <= start) {
    throw new SchedulingException(
      SchedulingErrorCode.InvalidInterval,
      'A Slot has a start and an end (instants), end after start',
      ['Slot.start', 'Slot.end'],
    );
  }
  return { scheduleId, serviceCode: codes[0], start, end, status: slot.status as SlotStatus };
}
