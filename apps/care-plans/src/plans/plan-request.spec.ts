import type { CarePlan } from '@medplum/fhirtypes';
import {
  carePlanExample,
  consultActivity,
  fullPlanExample,
  imagingActivity,
  regimenActivity,
} from '../testing/care-plan-examples';
import { planRequestOf, SLOT_EXTENSION } from './plan-request';
import { PlanErrorCode, PlanException } from './plans.exception';
import { reservationKey, reservationName, reservationsOf, PLAN_STAGES } from './treatment-plan';

const full = carePlanExample(fullPlanExample());

/** The code and elements a plan is refused with. */
function refusal(plan: CarePlan): { code: string; status: number; expression: readonly string[] } {
  try {
    planRequestOf(plan);
  } catch (error) {
    if (error instanceof PlanException)
      return { code: error.code, status: error.status, expression: error.expression };
    throw error;
  }
  throw new Error('the plan was accepted');
}

const withActivities = (activity: CarePlan['activity']): CarePlan => ({ ...full, activity });

describe('planRequestOf', () => {
  it('reads the patient, the care team and each activity of a full plan', () => {
    expect(planRequestOf(full)).toEqual({
      patientId: 'pat-1',
      careTeamId: 'team-1',
      consults: [
        { activity: 0, slotId: 'slot-a', performerId: 'prac-1' },
        { activity: 1, slotId: 'slot-b', performerId: 'prac-2' },
      ],
      imaging: { activity: 2, modality: 'CT', day: '2026-12-07' },
      regimen: { activity: 3, drugCode: '197361', locationId: 'ward-3a', quantity: 30 },
    });
  });

  it('maps each activity to the capacity resource its participant offers, and names keys and branches', () => {
    expect(reservationsOf(planRequestOf(full))).toEqual({
      consults: [
        { resource: 'slot:slot-a', units: 1, activity: 0 },
        { resource: 'slot:slot-b', units: 1, activity: 1 },
      ],
      imaging: [{ resource: 'imaging:CT:2026-12-07', units: 1, activity: 2 }],
      regimen: [{ resource: 'drug:197361@ward-3a', units: 30, activity: 3 }],
    });
    const [consults, imaging] = PLAN_STAGES;
    expect(reservationKey('g-1', consults, 1)).toBe('g-1:consults:1');
    expect(reservationKey('g-1', imaging, 0)).toBe('g-1:imaging');
    expect(reservationName(consults, 0)).toBe('consults:0');
  });

  it('takes the imaging day from a dateTime too, and books a plan of consults only', () => {
    const plan = withActivities([consultActivity('s', 'p'), imagingActivity('MR', '2026-12-08T09:30:00Z')]);
    expect(planRequestOf(plan).imaging).toEqual({ activity: 1, modality: 'MR', day: '2026-12-08' });
    const consultsOnly = reservationsOf(planRequestOf(withActivities([consultActivity('s', 'p')])));
    expect(consultsOnly).toEqual({
      consults: [{ resource: 'slot:s', units: 1, activity: 0 }],
      imaging: [],
      regimen: [],
    });
  });

  it.each([
    [
      'a status other than draft or active',
      { ...full, status: 'revoked' },
      PlanErrorCode.UnsupportedStatus,
      'CarePlan.status',
    ],
    [
      'no patient subject',
      { ...full, subject: { reference: 'Group/g' } },
      PlanErrorCode.SubjectRequired,
      'CarePlan.subject',
    ],
    [
      'an absolute subject',
      { ...full, subject: { reference: 'http://emr/fhir/Patient/p' } },
      PlanErrorCode.SubjectRequired,
      'CarePlan.subject',
    ],
    ['no care team', { ...full, careTeam: undefined }, PlanErrorCode.CareTeamRequired, 'CarePlan.careTeam'],
    [
      'two care teams',
      { ...full, careTeam: [{ reference: 'CareTeam/a' }, { reference: 'CareTeam/b' }] },
      PlanErrorCode.CareTeamRequired,
      'CarePlan.careTeam',
    ],
    ['no activity', { ...full, activity: undefined }, PlanErrorCode.ActivityRequired, 'CarePlan.activity'],
  ])('refuses %s with a 400', (_what, plan, code, element) => {
    expect(refusal(plan as CarePlan)).toEqual({ code, status: 400, expression: [element] });
  });

  it.each([
    [
      'an activity by reference',
      [{ reference: { reference: 'Appointment/a' } }],
      PlanErrorCode.UnsupportedActivity,
      'CarePlan.activity[0]',
    ],
    [
      'another kind',
      [{ detail: { kind: 'Task', status: 'scheduled' } }],
      PlanErrorCode.UnsupportedActivity,
      'CarePlan.activity[0].detail.kind',
    ],
    [
      'two imaging activities',
      [imagingActivity('CT', '2026-12-07'), imagingActivity('MR', '2026-12-07')],
      PlanErrorCode.UnsupportedActivity,
      'CarePlan.activity[1]',
    ],
    [
      'two regimens',
      [regimenActivity('1', 'w', 1), regimenActivity('2', 'w', 1)],
      PlanErrorCode.UnsupportedActivity,
      'CarePlan.activity[1]',
    ],
    [
      'a consult without its slot',
      [{ detail: { ...consultActivity('s', 'p').detail!, extension: [] } }],
      PlanErrorCode.ActivityIncomplete,
      'CarePlan.activity[0].detail.extension',
    ],
    [
      'a consult whose slot is not a Slot',
      [
        {
          detail: {
            ...consultActivity('s', 'p').detail!,
            extension: [{ url: SLOT_EXTENSION, valueReference: { reference: 'Schedule/x' } }],
          },
        },
      ],
      PlanErrorCode.ActivityIncomplete,
      'CarePlan.activity[0].detail.extension',
    ],
    [
      'a consult with two performers',
      [
        {
          detail: {
            ...consultActivity('s', 'p').detail!,
            performer: [{ reference: 'Practitioner/a' }, { reference: 'Practitioner/b' }],
          },
        },
      ],
      PlanErrorCode.ActivityIncomplete,
      'CarePlan.activity[0].detail.performer',
    ],
    [
      'a consult performed by an organization',
      [{ detail: { ...consultActivity('s', 'p').detail!, performer: [{ reference: 'Organization/o' }] } }],
      PlanErrorCode.ActivityIncomplete,
      'CarePlan.activity[0].detail.performer',
    ],
    [
      'two consults on one slot',
      [consultActivity('s', 'p'), consultActivity('s', 'q')],
      PlanErrorCode.DuplicateSlot,
      'CarePlan.activity[1].detail.extension',
    ],
    [
      'imaging without a DICOM modality',
      [
        {
          detail: {
            ...imagingActivity('CT', '2026-12-07').detail!,
            code: { coding: [{ system: 'http://loinc.org', code: 'CT' }] },
          },
        },
      ],
      PlanErrorCode.ActivityIncomplete,
      'CarePlan.activity[0].detail.code',
    ],
    [
      'imaging without a day',
      [{ detail: { ...imagingActivity('CT', '2026-12-07').detail!, scheduledPeriod: undefined } }],
      PlanErrorCode.ActivityIncomplete,
      'CarePlan.activity[0].detail.scheduledPeriod.start',
    ],
    [
      'a regimen without an RxNorm drug',
      [{ detail: { ...regimenActivity('1', 'w', 1).detail!, productCodeableConcept: { text: 'aspirin' } } }],
      PlanErrorCode.ActivityIncomplete,
      'CarePlan.activity[0].detail.productCodeableConcept',
    ],
    [
      'a regimen without a location',
      [{ detail: { ...regimenActivity('1', 'w', 1).detail!, location: undefined } }],
      PlanErrorCode.ActivityIncomplete,
      'CarePlan.activity[0].detail.location',
    ],
    [
      'a regimen without a quantity',
      [{ detail: { ...regimenActivity('1', 'w', 1).detail!, quantity: undefined } }],
      PlanErrorCode.ActivityIncomplete,
      'CarePlan.activity[0].detail.quantity',
    ],
  ])('refuses %s with a 400 naming it', (_what, activity, code, element) => {
    expect(refusal(withActivities(activity as CarePlan['activity']))).toEqual({
      code,
      status: 400,
      expression: [element],
    });
  });

  it.each([0, -5, 2.5, 10_001, 1e9])('refuses an impossible quantity (%p)', (quantity) => {
    expect(refusal(withActivities([regimenActivity('197361', 'ward-3a', quantity)]))).toEqual({
      code: PlanErrorCode.ImpossibleQuantity,
      status: 400,
      expression: ['CarePlan.activity[0].detail.quantity.value'],
    });
  });

  it('accepts the bounds of a quantity, and refuses a seventeenth consult', () => {
    expect(planRequestOf(withActivities([regimenActivity('1', 'w', 1)])).regimen?.quantity).toBe(1);
    expect(planRequestOf(withActivities([regimenActivity('1', 'w', 10_000)])).regimen?.quantity).toBe(10_000);
    const many = Array.from({ length: 17 }, (_, i) => consultActivity(`s${i}`, 'p'));
    expect(refusal(withActivities(many)).code).toBe(PlanErrorCode.UnsupportedActivity);
  });
});
