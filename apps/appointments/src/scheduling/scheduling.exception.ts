import { DomainException, ErrorCodeMappings } from '@hospital/platform';

/** Every way the service refuses a Schedule, a Slot or a free-slot query. */
export enum SchedulingErrorCode {
  /** A Schedule's `actor` must be exactly one reference `Practitioner/<id>`. */
  PractitionerRequired = 'practitioner-required',
  /** A Schedule needs at least one `serviceType` code; a Slot exactly one. */
  ServiceTypeRequired = 'service-type-required',
  /** A Schedule's `planningHorizon` needs a start and an end, with times and zones, end after start. */
  HorizonRequired = 'horizon-required',
  /** A Slot's `schedule` must be a reference `Schedule/<id>`. */
  ScheduleRequired = 'schedule-required',
  /** A Slot's `end` must be after its `start`. */
  InvalidInterval = 'invalid-interval',
  /** A Slot is created `free` or `busy`; the other R4 statuses are not kept. */
  UnsupportedStatus = 'unsupported-status',
  /** The Slot's schedule does not exist. */
  UnknownSchedule = 'unknown-schedule',
  /** The Slot does not lie within its schedule's planning horizon. */
  OutsideHorizon = 'outside-horizon',
  /** The Slot's service type is not one its schedule offers. */
  ServiceNotOffered = 'service-not-offered',
  /** The Slot overlaps another slot of the same schedule (the exclusion constraint refused it). */
  OverlappingSlot = 'overlapping-slot',
}

/**
 * Each code's transports: malformed resources are a 400, valid FHIR that the schedules refuse a 422, an
 * overlap with an existing slot a 409. None can apply later, so a message carrying one is dead-lettered.
 */
export const SCHEDULING_ERRORS: ErrorCodeMappings<SchedulingErrorCode> = {
  [SchedulingErrorCode.PractitionerRequired]: { status: 400, issue: 'required', message: 'dead-letter' },
  [SchedulingErrorCode.ServiceTypeRequired]: { status: 400, issue: 'required', message: 'dead-letter' },
  [SchedulingErrorCode.HorizonRequired]: { status: 400, issue: 'required', message: 'dead-letter' },
  [SchedulingErrorCode.ScheduleRequired]: { status: 400, issue: 'required', message: 'dead-letter' },
  [SchedulingErrorCode.InvalidInterval]: { status: 400, issue: 'invalid', message: 'dead-letter' },
  [SchedulingErrorCode.UnsupportedStatus]: { status: 400, issue: 'not-supported', message: 'dead-letter' },
  [SchedulingErrorCode.UnknownSchedule]: { status: 422, issue: 'not-found', message: 'dead-letter' },
  [SchedulingErrorCode.OutsideHorizon]: { status: 422, issue: 'business-rule', message: 'dead-letter' },
  [SchedulingErrorCode.ServiceNotOffered]: { status: 422, issue: 'business-rule', message: 'dead-letter' },
  [SchedulingErrorCode.OverlappingSlot]: { status: 409, issue: 'conflict', message: 'dead-letter' },
};

/** A refused Schedule or Slot; messages name elements, ids and codes. */
export class SchedulingException extends DomainException<SchedulingErrorCode> {
  constructor(code: SchedulingErrorCode, message: string, expression: readonly string[] = []) {
    super('scheduling', code, SCHEDULING_ERRORS, message, { expression });
  }
}
