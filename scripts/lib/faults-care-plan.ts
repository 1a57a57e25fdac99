// Fault trials of multidisciplinary treatment plans (care-plans orchestrating appointments, pacs and the
// pharmacy's inventory) in the three modes — saga, quota-cached saga, TCC. One trial books plans in one
// mode for a few seconds, some of them meant to fail (a drug out of stock, a full CT day), while one real
// fault is injected: care-plans SIGKILLing itself at a protocol point of the mode (FAULT_KILL_AT), a
// participant SIGKILLed, the run's quota-cache keys deleted from Redis, or RabbitMQ stopped and started
// with its own commands. Then it restarts what died, lets recovery, the quota sweepers and the outbox
// settle everything, and checks the invariants (faults-care-plan-invariants.ts) in the databases.
// Used by `npm run faults -- care-plan` and apps/care-plans/test/care-plan-modes.fault-spec.ts.
import { AUDIT_RECORD_TYPE } from '@hospital/platform';
import { startService, stopService } from '../infra/index';
import { keepAliveAgent } from './bench-http';
import { CarePlanCluster, DAY_MS, FIRST_IMAGING_DAY, type PlanServiceName } from './care-plan-cluster';
import { evaluateCarePlans, PlanDatabases, unsettledReason } from './faults-care-plan-invariants';
import { drivePlans, type PlanAnswer, planCase, type PlanResources } from './faults-care-plan-load';
import {
  CARE_PLAN_FAULT_ENV,
  CARE_PLANS_FAULT_ENV,
  type CarePlanFaultLabOptions,
  type CarePlanTrialPlan,
  type CarePlanTrialResult,
  type Finding,
} from './faults-care-plan-plan';
import { sleep } from './faults-outbox-load';
import { freshTrialRecord, phaseClock, tallyFindings } from './faults-report';
import { describeExit, type ExitInfo } from './service-process';

export * from './faults-care-plan-plan';

/** Units of a drug or a CT day that plans can book: never the limit in a run. */
const PLENTY = 1_000_000;

/** The fault-injection set-up: fresh databases, the five services, the resources plans draw from. */
export class CarePlanFaultLab {
  readonly cluster: CarePlanCluster;
  private readonly db: PlanDatabases;
  private readonly results: CarePlanTrialResult[] = [];
  private readonly reported = new Map<string, Finding>();
  /** Every plan sent in the run, by its slot. */
  private readonly answers = new Map<string, PlanAnswer>();
  private readonly resources: PlanResources;
  private readonly log: (line: string) => void;
  private readonly agent = keepAliveAgent(16);

  private constructor(private readonly options: CarePlanFaultLabOptions) {
    this.log = options.log ?? (() => undefined);
    this.cluster = new CarePlanCluster({
      basePort: options.basePort,
      suffix: options.suffix,
      log: this.log,
      env: CARE_PLAN_FAULT_ENV,
      envOf: { 'care-plans': CARE_PLANS_FAULT_ENV },
    });
    this.db = new PlanDatabases(this.cluster);
    const run = this.cluster.run;
    this.resources = {
      drug: `1000${run}`,
      stockOutDrug: `9999${run}`,
      days: Array.from({ length: 3 }, (_, i) =>
        new Date(FIRST_IMAGING_DAY + i * DAY_MS).toISOString().slice(0, 10),
      ),
      fullDay: '2030-01-01',
      location: 'ward-3a',
    };
  }

  /** Re-creates the databases, starts the services, offers the drugs and CT days. */
  static async open(options: CarePlanFaultLabOptions): Promise<CarePlanFaultLab> {
    const lab = new CarePlanFaultLab(options);
    try {
      await lab.cluster.start();
      const r = lab.resources;
      await lab.cluster.offer(`drug:${r.drug}@${r.location}`, PLENTY);
      await lab.cluster.offer(`drug:${r.stockOutDrug}@${r.location}`, 0);
      for (const day of r.days) await lab.cluster.offer(`imaging:CT:${day}`, PLENTY);
      await lab.cluster.offer(`imaging:CT:${r.fullDay}`, 0);
    } catch (error) {
      await lab.close();
      throw error;
    }
    return lab;
  }

  get trials(): readonly CarePlanTrialResult[] {
    return this.results;
  }

  /** Restarts any service found dead (it should not be); what it restarted. */
  private async ensureUp(): Promise<string[]> {
    const restarted: string[] = [];
    for (const [service, process] of Object.entries(this.cluster.processes) as [
      PlanServiceName,
      (typeof this.cluster.processes)['emr'],
    ][]) {
      if (process.alive) continue;
      restarted.push(
        `${service} was found dead (${describeExit(process.exit!)}) and restarted${process.outputTail(5)}`,
      );
      await this.cluster.startService(service);
    }
    return restarted;
  }

  /** The resources of these plans (their slots, drugs and CT days), for the quota caches' checks. */
  private resourcesOf(answers: readonly PlanAnswer[]): Set<string> {
    const r = this.resources;
    return new Set([
      ...answers.map((a) => `slot:${a.spec.slotId}`),
      `drug:${r.drug}@${r.location}`,
      ...r.days.map((d) => `imaging:CT:${d}`),
    ]);
  }

  async runTrial(plan: CarePlanTrialPlan): Promise<CarePlanTrialResult> {
    const began = Date.now();
    const result: CarePlanTrialResult = {
      ...plan,
      injected: false,
      plans: 0,
      answeredActive: 0,
      answeredRevoked: 0,
      answeredUnavailable: 0,
      unanswered: 0,
      active: 0,
      revoked: 0,
      recovered: 0,
      keysDeleted: 0,
      completionEvents: 0,
      ...freshTrialRecord(),
    };
    this.results.push(result);
    const phase = phaseClock(result.phases);
    result.problems.push(...(await this.ensureUp()));
    // A broker restart takes longer than the others: the load goes on until RabbitMQ is back.
    const slots = await this.cluster.createSlots(plan.fault === 'broker-restart' ? 192 : 96);
    const practitioner = this.cluster.practitionerIds[0];
    const cases = slots.map((slot, n) => planCase(plan.index, n, slot, practitioner, this.resources));
    const [{ events: eventsBefore }] = await this.db.rows<{ events: number }>(
      'care-plans',
      'SELECT count(*)::int AS events FROM tx_outbox WHERE type <> $1',
      [AUDIT_RECORD_TYPE],
    );

    let victimExit: ExitInfo | undefined;
    if (plan.fault === 'orchestrator-kill' && plan.point) {
      const victim = await this.cluster.restart('care-plans', { FAULT_KILL_AT: plan.point });
      void victim.exited.then((exit) => {
        victimExit = exit;
      });
    }
    phase('arm');

    const loadMs = this.options.loadMs ?? 4_000;
    const leadMs = this.options.leadMs ?? 1_000;
    const loadStart = Date.now();
    // The load goes on for loadMs, and at least 1.5 s past the fault (a restart, the broker's return).
    let faultDoneAt: number | undefined;
    const done = (): boolean =>
      Date.now() >= loadStart + loadMs + (this.options.victimTimeoutMs ?? 20_000) + 60_000 ||
      (faultDoneAt !== undefined && Date.now() >= Math.max(loadStart + loadMs, faultDoneAt + 1_500));
    const load = drivePlans(this.cluster, plan.mode, cases, {
      concurrency: this.options.concurrency ?? 4,
      ratePerSecond: this.options.ratePerSecond ?? 8,
      agent: this.agent,
      done,
    });
    const inject = (async (): Promise<void> => {
      if (plan.fault === 'orchestrator-kill') {
        const deadline = Date.now() + (this.options.victimTimeoutMs ?? 20_000);
        while (victimExit === undefined && Date.now() < deadline) await sleep(50);
        if (victimExit === undefined) {
          result.problems.push(`care-plans never reached ${plan.point}: nothing injected`);
          await this.cluster.restart('care-plans');
          return;
        }
        result.victimExit = describeExit(victimExit);
        result.injected = victimExit.signal === 'SIGKILL';
        if (!result.injected)
          result.problems.push(`care-plans exited with ${result.victimExit}, not at ${plan.point}`);
        const down = Date.now();
        await this.cluster.startService('care-plans');
        result.notes.push(
          `care-plans died at ${plan.point} ${((victimExit.at - loadStart) / 1000).toFixed(1)} s into the load, back in ${((Date.now() - down) / 1000).toFixed(1)} s`,
        );
        return;
      }
      await sleep(leadMs);
      if (plan.fault === 'participant-kill' && plan.victim) {
        const exit = await this.cluster.kill(plan.victim);
        result.victimExit = describeExit(exit);
        result.injected = exit.signal === 'SIGKILL';
        await sleep(500);
        const down = Date.now();
        await this.cluster.startService(plan.victim);
        result.notes.push(
          `${plan.victim} SIGKILLed ${((exit.at - loadStart) / 1000).toFixed(1)} s into the load, back in ${((Date.now() - down) / 1000 + 0.5).toFixed(1)} s`,
        );
      } else if (plan.fault === 'redis-flush') {
        result.keysDeleted = await this.cluster.deleteQuotaKeys();
        result.injected = result.keysDeleted > 0;
        result.notes.push(
          `${result.keysDeleted} quota-cache keys deleted ${((Date.now() - loadStart) / 1000).toFixed(1)} s into the load`,
        );
      } else if (plan.fault === 'broker-restart') {
        const stopped = Date.now();
        await stopService('rabbitmq', { log: this.log });
        await sleep(500);
        await startService('rabbitmq', { log: this.log });
        result.injected = true;
        result.notes.push(`RabbitMQ down for ${((Date.now() - stopped) / 1000).toFixed(1)} s`);
      }
    })().finally(() => {
      faultDoneAt = Date.now();
    });
    const [answers] = await Promise.all([load, inject]);
    phase('load');

    for (const answer of answers) this.answers.set(answer.spec.slotId, answer);
    result.plans = answers.length;
    result.answeredActive = answers.filter((a) => a.status === 201).length;
    result.answeredRevoked = answers.filter((a) => a.status === 409).length;
    result.answeredUnavailable = answers.filter((a) => a.status === 503).length;
    result.unanswered = answers.filter((a) => a.status === undefined).length;
    const odd = answers.filter((a) => a.status !== undefined && ![201, 409, 503].includes(a.status));
    if (odd.length > 0)
      result.notes.push(
        `answered otherwise: ${odd
          .slice(0, 3)
          .map((a) => `${a.status} ${a.kind}`)
          .join(', ')}`,
      );

    const resources = this.resourcesOf(answers);
    const settle = await this.awaitSettled(resources, this.options.settleTimeoutMs ?? 120_000);
    if (settle.settled) result.settleMs = settle.ms;
    else
      result.problems.push(`not settled ${Math.round(settle.ms / 1000)} s after the load: ${settle.reason}`);
    result.problems.push(...settle.restarted);
    phase('settle');

    const mine = new Set(answers.map((a) => a.spec.slotId));
    const outcomes = await this.db.rows<{ slot: string; status: string }>(
      'care-plans',
      `SELECT (SELECT e -> 'valueReference' ->> 'reference'
                 FROM jsonb_array_elements(f.content -> 'activity') a, jsonb_array_elements(a -> 'detail' -> 'extension') e
                WHERE e ->> 'url' = 'urn:hospital:care-plans:slot' LIMIT 1) AS slot, p.status
         FROM care_plan p JOIN fhir_resource f ON f.resource_type = 'CarePlan' AND f.id = p.plan_id`,
    );
    const status = new Map(outcomes.map((o) => [o.slot.replace(/^Slot\//, ''), o.status]));
    for (const answer of answers) {
      const s = status.get(answer.spec.slotId);
      if (!mine.has(answer.spec.slotId) || s === undefined) continue;
      if (s === 'active') result.active++;
      if (s === 'revoked') result.revoked++;
      if (answer.status !== 201 && answer.status !== 409) result.recovered++;
    }
    const [{ events }] = await this.db.rows<{ events: number }>(
      'care-plans',
      'SELECT count(*)::int AS events FROM tx_outbox WHERE type <> $1',
      [AUDIT_RECORD_TYPE],
    );
    result.completionEvents = events - eventsBefore;

    const fresh = (await evaluateCarePlans(this.db, this.cluster, this.answers, resources)).filter(
      (f) => !this.reported.has(f.key),
    );
    tallyFindings(result, fresh, result.problems, this.reported);
    phase('check');
    result.seconds = (Date.now() - began) / 1000;
    return result;
  }

  /** Waits until nothing is unsettled twice in a row; services that die meanwhile are restarted. */
  private async awaitSettled(
    resources: ReadonlySet<string>,
    timeoutMs: number,
  ): Promise<{ settled: boolean; ms: number; reason: string; restarted: string[] }> {
    const start = Date.now();
    const restarted: string[] = [];
    let streak = 0;
    let reason = '';
    while (Date.now() < start + timeoutMs) {
      restarted.push(...(await this.ensureUp()));
      reason = await unsettledReason(this.db, this.cluster, resources).catch(
        (error: unknown) => `cannot observe: ${String(error)}`,
      );
      streak = reason === '' ? streak + 1 : 0;
      if (streak >= 2) return { settled: true, ms: Date.now() - start, reason, restarted };
      await sleep(500);
    }
    return { settled: false, ms: Date.now() - start, reason, restarted };
  }

  /** After the last trial: every invariant once more over the whole run, every resource's cache included. */
  async finish(): Promise<Finding[]> {
    const resources = this.resourcesOf([...this.answers.values()]);
    await this.awaitSettled(resources, 60_000);
    const fresh = (await evaluateCarePlans(this.db, this.cluster, this.answers, resources)).filter(
      (f) => !this.reported.has(f.key),
    );
    for (const finding of fresh) this.reported.set(finding.key, finding);
    return fresh;
  }

  /** Rows of a query in one of the run's databases (for specs that plant a broken state). */
  rows<T extends object>(service: PlanServiceName, sql: string, params: unknown[] = []): Promise<T[]> {
    return this.db.rows<T>(service, sql, params);
  }

  /** The invariants as they stand, every finding (reported before or not). */
  evaluate(): Promise<Finding[]> {
    return evaluateCarePlans(
      this.db,
      this.cluster,
      this.answers,
      this.resourcesOf([...this.answers.values()]),
    );
  }

  async close(): Promise<void> {
    this.agent.destroy();
    await this.db.close();
    await this.cluster.stop();
  }
}
