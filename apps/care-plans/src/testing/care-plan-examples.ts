import type { CarePlan, CarePlanActivity, CareTeam } from '@medplum/fhirtypes';
import { DICOM_SYSTEM, RXNORM_SYSTEM, SLOT_EXTENSION } from '../plans/plan-request';

/**
 * Example CareTeams and CarePlans as a client sends them, for the specs (and the shape the bench and the
 * demo send): a consult per slot, one CT on a day, a regimen of a drug from a ward's stock.
 */
export function careTeamExample(patientId: string, practitionerIds: readonly string[]): CareTeam {
  return {
    resourceType: 'CareTeam',
    status: 'active',
    name: 'Multidisciplinary team',
    subject: { reference: `Patient/${patientId}` },
    participant: practitionerIds.map((id) => ({ member: { reference: `Practitioner/${id}` } })),
  };
}

export function consultActivity(slotId: string, practitionerId: string): CarePlanActivity {
  return {
    detail: {
      kind: 'Appointment',
      status: 'scheduled',
      description: 'Specialist consult',
      performer: [{ reference: `Practitioner/${practitionerId}` }],
      extension: [{ url: SLOT_EXTENSION, valueReference: { reference: `Slot/${slotId}` } }],
    },
  };
}

export function imagingActivity(modality: string, day: string): CarePlanActivity {
  return {
    detail: {
      kind: 'ServiceRequest',
      status: 'scheduled',
      code: { coding: [{ system: DICOM_SYSTEM, code: modality }] },
      scheduledPeriod: { start: day },
    },
  };
}

export function regimenActivity(drugCode: string, locationId: string, quantity: number): CarePlanActivity {
  return {
    detail: {
      kind: 'MedicationRequest',
      status: 'scheduled',
      productCodeableConcept: { coding: [{ system: RXNORM_SYSTEM, code: drugCode }] },
      location: { reference: `Location/${locationId}` },
      quantity: { value: quantity, unit: 'tablet' },
    },
  };
}

export interface PlanExample {
  patientId: string;
  careTeamId: string;
  consults: { slotId: string; practitionerId: string }[];
  imaging?: { modality: string; day: string };
  regimen?: { drugCode: string; locationId: string; quantity: number };
}

export function carePlanExample(plan: PlanExample): CarePlan {
  return {
    resourceType: 'CarePlan',
    status: 'draft',
    intent: 'plan',
    title: 'Multidisciplinary treatment plan',
    subject: { reference: `Patient/${plan.patientId}` },
    careTeam: [{ reference: `CareTeam/${plan.careTeamId}` }],
    activity: [
      ...plan.consults.map((c) => consultActivity(c.slotId, c.practitionerId)),
      ...(plan.imaging === undefined ? [] : [imagingActivity(plan.imaging.modality, plan.imaging.day)]),
      ...(plan.regimen === undefined
        ? []
        : [regimenActivity(plan.regimen.drugCode, plan.regimen.locationId, plan.regimen.quantity)]),
    ],
  };
}

/** A full plan: two consults, a CT, a regimen of 30 units of amlodipine from ward 3A (`quantity` to change it). */
export function fullPlanExample(quantity = 30): PlanExample {
  return {
    patientId: 'pat-1',
    careTeamId: 'team-1',
    consults: [
      { slotId: 'slot-a', practitionerId: 'prac-1' },
      { slotId: 'slot-b', practitionerId: 'prac-2' },
    ],
    imaging: { modality: 'CT', day: '2026-12-07' },
    regimen: { drugCode: '197361', locationId: 'ward-3a', quantity },
  };
}
