import type { SearchDeclaration } from '@hospital/fhir';

/**
 * The FHIR resource types the appointments service serves at /fhir, with their search parameters.
 * Chained search (`Slot?schedule.actor=…`) is not supported by the FHIR layer: a client finds a
 * practitioner's schedules (`Schedule?actor=Practitioner/x&service-type=…`), then their free slots
 * (`Slot?schedule=Schedule/a,Schedule/b&status=free&start=ge…`), or asks `/api/slots/free` in one call.
 */
export const APPOINTMENT_RESOURCES = {
  Schedule: ['_id', 'actor', 'service-type', 'date', 'active'],
  Slot: ['_id', 'schedule', 'status', 'start', 'service-type'],
  Appointment: ['_id', 'status', 'slot', 'patient', 'practitioner', 'actor', 'date', 'service-type'],
} as const satisfies SearchDeclaration;
