// One fault trial per transaction style against the hospital in Compose with two replicas of the scaled
// services: a load of the style's workflow spread over both replicas of the service that runs it, one
// replica killed (SIGKILL, kept down) in the middle of it, then the databases read until the survivors have
// settled every transaction: nothing acknowledged lost, nothing applied twice, nothing left in doubt.
// The killed replica is started again afterwards, so the next trial finds two.
//   2pc          record updates at the EMR (coordinator of the LIS and the PACS); an EMR replica killed
//   outbox       dispenses at the pharmacy (outbox → RabbitMQ → inventory); a pharmacy replica killed
//   saga, quota-saga, tcc
//                treatment plans at care-plans in that mode; a care-plans replica killed
//   3pc          consult completions at telemedicine (the EMR a participant); an EMR replica killed
//   two-phase messages
//                reorders from low stock at the supply chain (prepared at the message server); a supply
//                chain replica killed
//   best-effort  bookings at appointments, each confirmed by e-mail, SMS and push to the simulated
//                receivers; an appointments replica killed
import { DatabaseClients } from '../lib/database-clients';
import { databaseName } from '../services';
import type { Compose, ContainerState } from './compose';
import type { CheckResult } from './flows';
import { formatDuration, sleep } from './process';
import {
  type Answer,
  type Databases,
  KILL_AT_MS,
  LOAD_MS,
  runningReplicas,
  SETTLE_MS,
  type Trial,
  type TrialContext,
  type Verdict,
  WORKERS,
} from './replica-trial-kit';
import { bestEffort } from './replica-trials-best-effort';
import { carePlans } from './replica-trials-care-plans';
import { threePhaseCommit, twoPhaseCommit } from './replica-trials-commit';
import { outbox, twoPhaseMessages } from './replica-trials-messaging';

export type { TrialContext } from './replica-trial-kit';

// ── The runner ──────────────────────────────────────────────────────────────────────────────────────────

/** The running replicas of `service`, at least two, with their base URLs on the project's network. */
async function replicasOf(
  compose: Compose,
  service: string,
  port: number,
): Promise<{ container: ContainerState; base: string }[]> {
  const running = await runningReplicas(compose, service, port);
  if (running.length < 2) throw new Error(`${running.length} replica(s) of ${service} running, not two`);
  return running;
}

/** Until `ready` answers 200 at the container's address, or `timeoutMs`. */
async function waitUntilReady(base: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const answer = await fetch(`${base}/health/ready`, { signal: AbortSignal.timeout(3_000) }).catch(
      () => undefined,
    );
    if (answer?.status === 200) return;
    if (Date.now() > deadline) throw new Error(`${base} not ready after ${formatDuration(timeoutMs)}`);
    await sleep(1_000);
  }
}

const examples = (list: string[]): string =>
  `${list.length} (${list.slice(0, 2).join('; ')}${list.length > 2 ? '…' : ''})`;

async function runTrial(trial: Trial, ctx: TrialContext): Promise<CheckResult> {
  const began = Date.now();
  const name = `${trial.style}: one ${trial.victim} replica killed mid-load`;
  const db: Databases = new DatabaseClients((service) => ({
    ...ctx.postgres,
    database: databaseName(service),
  }));
  let down: string | undefined;
  try {
    const replicas = await replicasOf(ctx.compose, trial.victim, trial.port);
    await trial.prepare?.(ctx, db);
    const [victim, ...survivors] = replicas;
    let killed = false;
    let next = 0;
    const answers: Answer[] = [];
    const loadEnds = Date.now() + LOAD_MS;
    const worker = async (w: number): Promise<void> => {
      while (Date.now() < loadEnds) {
        const n = next++;
        // Each worker keeps to one replica until the kill (so the victim always has requests in flight
        // when it dies), then to the survivors.
        const targets = killed ? survivors : replicas;
        const target = targets[w % targets.length];
        const answer = await trial.request(target.base, n, ctx);
        if (answer === undefined) return;
        answers.push(answer);
      }
    };
    // Held down before the load, so the kill itself is one quick command.
    down = victim.container.name;
    await ctx.compose.holdDown(down);
    const load = Promise.all(Array.from({ length: WORKERS }, (_, w) => worker(w)));
    const killAt = trial.killAtMs ?? KILL_AT_MS;
    await sleep(killAt);
    // New requests go to the survivors from here; those in flight at the victim die with it.
    killed = true;
    const killedAt = new Date();
    await ctx.compose.kill(down);
    ctx.log(`${trial.style}: killed ${victim.container.name} after ${next} requests`);
    await load;
    const acknowledged = answers.filter((a) => a.status === 200 || a.status === 201).length;
    const unanswered = answers.filter((a) => a.status === 'error').length;

    // The survivors settle what the dead replica left: read until every invariant holds, or give up.
    const settleFrom = Date.now();
    let verdict: Verdict;
    for (;;) {
      verdict = await trial.check(answers, db, killedAt, ctx);
      const clean = verdict.lost.length + verdict.duplicated.length + verdict.inDoubt.length === 0;
      if (clean || Date.now() - settleFrom > SETTLE_MS) break;
      await sleep(2_000);
    }
    const settledMs = Date.now() - settleFrom;
    down = undefined;
    await revive(ctx, victim.container.name, trial.port);

    const failures = [
      verdict.lost.length > 0 ? `lost ${examples(verdict.lost)}` : '',
      verdict.duplicated.length > 0 ? `duplicated ${examples(verdict.duplicated)}` : '',
      verdict.inDoubt.length > 0 ? `in doubt ${examples(verdict.inDoubt)}` : '',
    ].filter(Boolean);
    const load_ = `${answers.length} requests (${acknowledged} acknowledged, ${unanswered} unanswered) ${trial.loadAt ?? `over the ${replicas.length} replicas`}, ${victim.container.name} killed at ${formatDuration(killAt)}`;
    if (failures.length > 0)
      return {
        name,
        ok: false,
        detail: `${load_}; after ${formatDuration(settledMs)}: ${failures.join('; ')}`,
        ms: Date.now() - began,
      };
    return {
      name,
      ok: acknowledged > 0,
      detail: `${load_}; settled ${formatDuration(settledMs)} later: ${verdict.summary}; 0 lost, 0 duplicated, 0 in doubt`,
      ms: Date.now() - began,
    };
  } catch (error) {
    return {
      name,
      ok: false,
      detail: error instanceof Error ? error.message : String(error),
      ms: Date.now() - began,
    };
  } finally {
    // The next trial (and `down`) expects both replicas, whatever happened to this one.
    if (down !== undefined)
      await revive(ctx, down, trial.port).catch((error: unknown) => ctx.log(`${down}: ${String(error)}`));
    await db.close();
  }
}

/** Starts a killed replica again and waits until it is ready. */
async function revive(ctx: TrialContext, container: string, port: number): Promise<void> {
  await ctx.compose.revive(container);
  await waitUntilReady(`http://${await ctx.compose.address(container)}:${port}`, 120_000);
}

/** The styles there is a trial of, in the order they run. */
export const TRIAL_STYLES = [
  '2pc',
  '3pc',
  'outbox',
  'two-phase messages',
  'best-effort',
  'saga',
  'quota-saga',
  'tcc',
];

/**
 * Every style's trial in turn (they share the hospital, so one at a time), or those of `only`, reported as
 * each ends.
 */
export async function runReplicaTrials(
  ctx: TrialContext,
  report: (result: CheckResult) => void,
  only?: readonly string[],
): Promise<CheckResult[]> {
  const trials = [
    twoPhaseCommit(),
    threePhaseCommit(),
    outbox(),
    twoPhaseMessages(),
    bestEffort(),
    carePlans('saga'),
    carePlans('quota-saga'),
    carePlans('tcc'),
  ];
  const results: CheckResult[] = [];
  for (const trial of trials.filter((t) => only === undefined || only.includes(t.style))) {
    const result = await runTrial(trial, ctx);
    results.push(result);
    report(result);
  }
  return results;
}
