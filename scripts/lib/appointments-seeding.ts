// Schedules and slots created through the appointments service's own API, as the bench and the demo seed
// them: the service checks each one (horizon, service type, no overlap) as it would a clinic's.
import type { Bundle, Coding, Schedule, Slot } from '@medplum/fhirtypes';
import { failureSummary, postFhir } from './bench-http';

export const SERVICE_TYPE_SYSTEM = 'http://terminology.hl7.org/CodeSystem/service-type';

/** Opens a schedule of `practitionerId` for `serviceType` over [from, to) (ms since the epoch); its id. */
export async function createSchedule(
  base: string,
  practitionerId: string,
  serviceType: Coding,
  from: number,
  to: number,
): Promise<string> {
  const schedule: Schedule = {
    resourceType: 'Schedule',
    active: true,
    actor: [{ reference: `Practitioner/${practitionerId}` }],
    serviceType: [{ coding: [serviceType] }],
    planningHorizon: { start: new Date(from).toISOString(), end: new Date(to).toISOString() },
  };
  const created = await postFhir(`${base}/fhir/Schedule`, schedule);
  if (created.status !== 201)
    throw new Error(`opening the schedule of ${practitionerId}: ${failureSummary(created)}`);
  return (JSON.parse(created.body) as { id: string }).id;
}

export interface SlotsCreated {
  created: number;
  /** Refused as overlapping a slot already there (409): left as they are, booked or free. */
  existing: number;
}

/**
 * Creates free slots of `minutes` each, starting at `starts` (ms since the epoch), in one batch Bundle.
 * A slot refused as an overlap counts as existing; any other refusal stops with an error.
 */
export async function createSlots(
  base: string,
  scheduleId: string,
  serviceType: Coding,
  starts: readonly number[],
  minutes: number,
): Promise<SlotsCreated> {
  const entry = starts.map((start) => {
    const slot: Slot = {
      resourceType: 'Slot',
      schedule: { reference: `Schedule/${scheduleId}` },
      serviceType: [{ coding: [serviceType] }],
      status: 'free',
      start: new Date(start).toISOString(),
      end: new Date(start + minutes * 60_000).toISOString(),
    };
    return { resource: slot, request: { method: 'POST' as const, url: 'Slot' } };
  });
  const what = `the slots of Schedule/${scheduleId} from ${new Date(starts[0]).toISOString()}`;
  const answer = await postFhir(
    `${base}/fhir`,
    { resourceType: 'Bundle', type: 'batch', entry },
    {
      timeoutMs: 120_000,
    },
  );
  if (answer.status !== 200) throw new Error(`creating ${what}: ${failureSummary(answer)}`);
  const statuses = ((JSON.parse(answer.body) as Bundle).entry ?? []).map((e) => e.response?.status ?? '');
  if (statuses.length !== starts.length)
    throw new Error(`creating ${what}: ${statuses.length} answers for ${starts.length} slots`);
  const unexpected = statuses.find((s) => !s.startsWith('201') && !s.startsWith('409'));
  if (unexpected !== undefined) throw new Error(`creating ${what}: a slot was answered ${unexpected}`);
  const created = statuses.filter((s) => s.startsWith('201')).length;
  return { created, existing: statuses.length - created };
}
