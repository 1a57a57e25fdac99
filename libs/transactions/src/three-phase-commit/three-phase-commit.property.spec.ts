import fc from 'fast-check';
import { ProtocolPoint } from '../core/protocol-points';
import { InMemoryPreparedResource, PreparedResourceStore } from '../testing/in-memory-prepared-resource';
import { MemoryTx } from '../testing/memory-database';
import { InProcessThreePhaseLink, LinkState } from '../testing/three-phase-links';
import { InMemoryThreePhaseLog, InMemoryThreePhaseStates } from '../testing/three-phase-memory';
import { ThreePhaseCoordinator } from './coordinator';
import { TerminationPolicy, ThreePhaseParticipant } from './participant';

/**
 * The 3PC cores under random schedules: votes, links into each participant cut or limited to votes
 * while the coordinator runs, the coordinator dying at any point, participants swept at random instants
 * while a partition isolates one of them, then everything healed and a new coordinator recovering.
 * Under peer termination no schedule splits the outcome and every branch ends; under the textbook
 * time-outs some schedule splits it (the hazard the README describes).
 */
const NAMES = ['emr', 'telemedicine', 'referral-inbox'];
const TIMEOUT_MS = 1_000;
const DEATHS: (ProtocolPoint | 'none')[] = [
  'none',
  '3pc.coordinator.after-can-commit',
  '3pc.coordinator.mid-pre-commit',
  '3pc.coordinator.after-pre-commit',
  '3pc.coordinator.mid-do-commit',
];

interface Schedule {
  votes: boolean[];
  coordinatorLinks: LinkState[];
  death: ProtocolPoint | 'none';
  /** A participant cut off from its peers (and the coordinator's later calls) while the sweeps run. */
  isolated: number | undefined;
  sweeps: { advanceMs: number; who: number }[];
}

const schedules = fc.record<Schedule>({
  votes: fc.array(fc.constantFrom(true, true, true, false), { minLength: 3, maxLength: 3 }),
  coordinatorLinks: fc.array(fc.constantFrom<LinkState>('up', 'up', 'votes-only', 'cut'), {
    minLength: 3,
    maxLength: 3,
  }),
  death: fc.constantFrom(...DEATHS),
  isolated: fc.option(fc.integer({ min: 0, max: 2 }), { nil: undefined }),
  sweeps: fc.array(
    fc.record({
      advanceMs: fc.integer({ min: 0, max: 2 * TIMEOUT_MS }),
      who: fc.integer({ min: 0, max: 2 }),
    }),
    { maxLength: 12 },
  ),
});

class Died extends Error {}

/** Runs one schedule; answers the problems seen (empty: the outcome was one and everything ended). */
async function run(schedule: Schedule, termination: TerminationPolicy): Promise<string[]> {
  let now = 0;
  const clock = { now: () => now };
  const stores = NAMES.map((name) => new PreparedResourceStore(name));
  const peerLinks = new Map<string, InProcessThreePhaseLink>();
  const participants = NAMES.map(
    (name, i) =>
      new ThreePhaseParticipant<MemoryTx>(
        new InMemoryPreparedResource(stores[i], { clock }),
        new InMemoryThreePhaseStates(stores[i], clock.now),
        (peer) => peerLinks.get(`${name}->${peer}`),
        (tx, payload) => {
          if (!schedule.votes[i]) return Promise.reject(new Error(`${name} refuses`));
          tx.put(`consult:${String(payload)}`, name);
          return Promise.resolve();
        },
        { name, uncertainTimeoutMs: TIMEOUT_MS, precommitTimeoutMs: TIMEOUT_MS, termination },
      ),
  );
  for (const [i, from] of NAMES.entries())
    for (const [j, to] of NAMES.entries())
      if (i !== j) peerLinks.set(`${from}->${to}`, new InProcessThreePhaseLink(participants[j]));
  const log = new InMemoryThreePhaseLog(clock.now);
  const links = participants.map((p) => new InProcessThreePhaseLink(p));
  const coordinator = (dieAt?: ProtocolPoint) =>
    new ThreePhaseCoordinator(log, links, {
      name: 'telemedicine',
      inlineAttempts: 1,
      retryBaseMs: 0,
      retryMaxMs: 0,
      recoveryLeaseMs: 0,
      points: (point) => {
        if (point === dieAt) throw new Died(point);
      },
    });
  const problems: string[] = [];
  const check = (when: string) => {
    const states = stores.map((s) => s.state('g1'));
    if (states.includes('committed') && states.some((s) => s !== 'committed' && s !== 'prepared'))
      problems.push(`${when}: split outcome ${JSON.stringify(states)}`);
    for (const s of stores) problems.push(...s.violations);
  };

  for (const [i, state] of schedule.coordinatorLinks.entries()) links[i].state = state;
  await coordinator(schedule.death === 'none' ? undefined : schedule.death)
    .execute({ gtid: 'g1', branches: NAMES.map((participant) => ({ participant, payload: 'c1' })) })
    .catch(() => undefined);
  check('after the coordinator');

  // The coordinator is gone (or done); a partition may isolate one participant while time passes.
  const isolate = (cut: boolean) => {
    if (schedule.isolated === undefined) return;
    const name = NAMES[schedule.isolated];
    for (const from of NAMES)
      if (from !== name) peerLinks.get(`${from}->${name}`)!.state = cut ? 'cut' : 'up';
    for (const to of NAMES) if (to !== name) peerLinks.get(`${name}->${to}`)!.state = cut ? 'cut' : 'up';
  };
  isolate(true);
  for (const { advanceMs, who } of schedule.sweeps) {
    now += advanceMs;
    await participants[who].sweep();
    check(`sweep of ${NAMES[who]} at ${now}`);
  }

  // Everything heals; participants and a new coordinator settle the rest.
  isolate(false);
  for (const link of links) link.state = 'up';
  for (let round = 0; round < 4; round += 1) {
    now += TIMEOUT_MS + 1;
    for (const p of participants) await p.sweep();
    await coordinator().recover();
    check(`settling round ${round}`);
  }
  const states = stores.map((s) => s.state('g1'));
  if (states.includes('prepared')) problems.push(`left prepared: ${JSON.stringify(states)}`);
  const logState = log.records.get('g1')?.state;
  const committed = states.includes('committed');
  if (committed && logState !== 'committed') problems.push(`log says ${logState}, branches committed`);
  if (!committed && logState === 'committed') problems.push('log says committed, no branch committed');
  return [...new Set(problems)];
}

describe('three-phase commit under random schedules', () => {
  it('never splits the outcome and always ends under peer termination', async () => {
    await fc.assert(
      fc.asyncProperty(schedules, async (schedule) => {
        expect(await run(schedule, 'peers')).toEqual([]);
      }),
      { numRuns: 400 },
    );
  }, 120_000);

  it('splits the outcome for some schedule under the textbook time-outs', async () => {
    const result = await fc.check(
      fc.asyncProperty(schedules, async (schedule) => (await run(schedule, 'textbook')).length === 0),
      { numRuns: 2_000, seed: 3 },
    );
    expect(result.failed).toBe(true);
  }, 120_000);
});
