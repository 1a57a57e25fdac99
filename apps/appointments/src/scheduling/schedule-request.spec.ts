import type { Schedule, Slot } from '@medplum/fhirtypes';
import { scheduleRequestOf, slotRequestOf } from './schedule-request';
import { SchedulingErrorCode, SchedulingException } from './scheduling.exception';

const schedule = (overrides: Partial<Schedule> = {}): Schedule => ({
  resourceType: 'Schedule',
  actor: [{ reference: 'Practitioner/prac-1' }],
  serviceType: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/service-type', code: '57' }] }],
  planningHorizon: { start: '2026-12-07T08:00:00Z', end: '2026-12-07T18:00:00+01:00' },
  ...overrides,
});

const slot = (overrides: Partial<Slot> = {}): Slot => ({
  resourceType: 'Slot',
  schedule: { reference: 'Schedule/sch-1' },
  serviceType: [{ coding: [{ code: '57' }] }],
  status: 'free',
  start: '2026-12-07T09:00:00Z',
  end: '2026-12-07T09:15:00Z',
  ...overrides,
});

function refusal(work: () => unknown): SchedulingException {
  try {
    work();
  } catch (error) {
    if (error instanceof SchedulingException) return error;
    throw error;
  }
  throw new Error('not refused');
}

describe('scheduleRequestOf', () => {
  it('reads the practitioner, the service codes and the horizon (zones honoured)', () => {
    const request = scheduleRequestOf(
      schedule({ serviceType: [{ coding: [{ code: '57' }, { code: '58' }] }, { coding: [{ code: '57' }] }] }),
    );
    expect(request).toEqual({
      practitionerId: 'prac-1',
      serviceCodes: ['57', '58'],
      horizonStart: new Date('2026-12-07T08:00:00Z'),
      horizonEnd: new Date('2026-12-07T17:00:00Z'),
    });
  });

  it.each<[string, Partial<Schedule>, SchedulingErrorCode]>([
    ['no actor', { actor: [] }, SchedulingErrorCode.PractitionerRequired],
    ['a Location', { actor: [{ reference: 'Location/x' }] }, SchedulingErrorCode.PractitionerRequired],
    [
      'an absolute reference',
      { actor: [{ reference: 'https://emr/fhir/Practitioner/p' }] },
      SchedulingErrorCode.PractitionerRequired,
    ],
    ['a display only', { actor: [{ display: 'Dr Who' }] }, SchedulingErrorCode.PractitionerRequired],
    [
      'two practitioners',
      { actor: [{ reference: 'Practitioner/a' }, { reference: 'Practitioner/b' }] },
      SchedulingErrorCode.PractitionerRequired,
    ],
    ['no service type', { serviceType: undefined }, SchedulingErrorCode.ServiceTypeRequired],
    ['a service type as text', { serviceType: [{ text: 'GP' }] }, SchedulingErrorCode.ServiceTypeRequired],
    ['no horizon', { planningHorizon: undefined }, SchedulingErrorCode.HorizonRequired],
    [
      'an open horizon',
      { planningHorizon: { start: '2026-12-07T08:00:00Z' } },
      SchedulingErrorCode.HorizonRequired,
    ],
    [
      'a horizon without zone',
      { planningHorizon: { start: '2026-12-07T08:00:00', end: '2026-12-07T18:00:00' } },
      SchedulingErrorCode.HorizonRequired,
    ],
    [
      'an empty horizon',
      { planningHorizon: { start: '2026-12-07T08:00:00Z', end: '2026-12-07T08:00:00Z' } },
      SchedulingErrorCode.HorizonRequired,
    ],
  ])('refuses %s with a 400', (_, overrides, code) => {
    const error = refusal(() => scheduleRequestOf(schedule(overrides)));
    expect(error.code).toBe(code);
    expect(error.status).toBe(400);
  });
});

describe('slotRequestOf', () => {
  it('reads the schedule, the one service code, the interval and the status', () => {
    expect(slotRequestOf(slot({ status: 'busy' }))).toEqual({
      scheduleId: 'sch-1',
      serviceCode: '57',
      start: new Date('2026-12-07T09:00:00Z'),
      end: new Date('2026-12-07T09:15:00Z'),
      status: 'busy',
    });
  });

  it.each<[string, Partial<Slot>, SchedulingErrorCode]>([
    [
      'a schedule that is no Schedule reference',
      { schedule: { reference: 'Practitioner/x' } },
      SchedulingErrorCode.ScheduleRequired,
    ],
    [
      'a malformed schedule id',
      { schedule: { reference: 'Schedule/a b' } },
      SchedulingErrorCode.ScheduleRequired,
    ],
    ['no service type', { serviceType: undefined }, SchedulingErrorCode.ServiceTypeRequired],
    [
      'two service codes',
      { serviceType: [{ coding: [{ code: '57' }, { code: '58' }] }] },
      SchedulingErrorCode.ServiceTypeRequired,
    ],
    ['status busy-unavailable', { status: 'busy-unavailable' }, SchedulingErrorCode.UnsupportedStatus],
    ['status entered-in-error', { status: 'entered-in-error' }, SchedulingErrorCode.UnsupportedStatus],
    ['an end before the start', { end: '2026-12-07T08:59:59Z' }, SchedulingErrorCode.InvalidInterval],
    ['an end at the start', { end: '2026-12-07T09:00:00Z' }, SchedulingErrorCode.InvalidInterval],
  ])('refuses %s with a 400', (_, overrides, code) => {
    const error = refusal(() => slotRequestOf(slot(overrides)));
    expect(error.code).toBe(code);
    expect(error.status).toBe(400);
  });
});
