// The load of a care-plan fault trial: treatment plans booked through care-plans in one mode by a few
// clients at a bounded rate, each plan on a consult slot of its own (the slot names the plan in the
// databases, also when its request never got an answer). Some plans are meant to fail: a drug that is out
// of stock (the last step) or a CT day that is full (the middle step).
import type { Agent } from 'node:http';
import type { CarePlanCluster, PlanMode, PlanSpec } from './care-plan-cluster';
import { sleep } from './faults-outbox-load';

/** What a plan is meant to do: be booked, or be refused at the pharmacy or at the PACS. */
export type PlanKind = 'bookable' | 'stock-out' | 'full-day';

export interface PlanCase {
  trial: number;
  kind: PlanKind;
  spec: PlanSpec;
}

/** One plan as the client saw it. */
export interface PlanAnswer extends PlanCase {
  /** 201 active, 409 revoked, 503 left to recovery; undefined when no answer came (care-plans died). */
  status?: number;
  gtid?: string;
  error?: string;
}

/** The resources plans draw from (besides their slots): offered plenty, or nothing at all. */
export interface PlanResources {
  drug: string;
  stockOutDrug: string;
  days: readonly string[];
  fullDay: string;
  location: string;
}

/** Plan `n` of a trial: one in four asks for the stock-out drug, one in eight for the full CT day. */
export function planCase(
  trial: number,
  n: number,
  slotId: string,
  practitionerId: string,
  r: PlanResources,
): PlanCase {
  const kind: PlanKind = n % 4 === 1 ? 'stock-out' : n % 8 === 3 ? 'full-day' : 'bookable';
  return {
    trial,
    kind,
    spec: {
      slotId,
      practitionerId,
      imaging: { modality: 'CT', day: kind === 'full-day' ? r.fullDay : r.days[n % r.days.length] },
      regimen: {
        drugCode: kind === 'stock-out' ? r.stockOutDrug : r.drug,
        location: r.location,
        quantity: 1 + (n % 3),
      },
    },
  };
}

/**
 * Books `cases` in order with `concurrency` clients, at most `ratePerSecond` plans a second together,
 * until `done()` or the cases run out. A client whose request got no answer waits a little before its
 * next (care-plans is down and coming back).
 */
export async function drivePlans(
  cluster: CarePlanCluster,
  mode: PlanMode,
  cases: readonly PlanCase[],
  options: { concurrency: number; ratePerSecond: number; agent: Agent; done: () => boolean },
): Promise<PlanAnswer[]> {
  const answers: PlanAnswer[] = [];
  const gap = 1000 / options.ratePerSecond;
  let nextAt = Date.now();
  let next = 0;
  const client = async (): Promise<void> => {
    while (!options.done() && next < cases.length) {
      // The next free send time: no burst to catch up after care-plans was away.
      const at = Math.max(nextAt, Date.now());
      nextAt = at + gap;
      if (at > Date.now()) await sleep(at - Date.now());
      if (options.done()) return;
      const n = next++;
      if (n >= cases.length) return;
      const answer = await cluster.book(cases[n].spec, mode, { agent: options.agent, timeoutMs: 60_000 });
      answers.push({
        ...cases[n],
        status: answer.status,
        gtid: answer.gtid,
        ...(answer.error === undefined ? {} : { error: answer.error }),
      });
      // No answer: care-plans died. Wait until it is back (or a while) before the next plan.
      if (answer.status === undefined)
        await waitForAnswer(`${cluster.url('care-plans')}/health/live`, 30_000);
    }
  };
  await Promise.all(Array.from({ length: options.concurrency }, client));
  return answers;
}

/** Polls `url` until it answers at all, or `timeoutMs` passed. */
async function waitForAnswer(url: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const answered = await fetch(url, { signal: AbortSignal.timeout(1_000) }).then(
      () => true,
      () => false,
    );
    if (answered) return;
    await sleep(200);
  }
}
