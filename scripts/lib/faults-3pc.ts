// Fault trials of the consult completion over three-phase commit: telemedicine coordinates (and takes part
// with its consult record), the EMR charts the findings, the referring site's inbox gets the
// recommendation, each a real process on a fresh database behind a TCP proxy. One trial completes a few
// consults at once while one real fault happens:
//   coordinator-kill  telemedicine SIGKILLs itself at a coordinator point (FAULT_KILL_AT) and stays down
//                     until the EMR and the inbox hold nothing prepared (they must agree without it); then
//                     it is restarted and its recovery must settle its own part the same way;
//   participant-kill  the EMR or the inbox SIGKILLs itself at a participant point, and is restarted;
//   partition         the inbox's proxy cuts it off at the first PreCommit, and heals after both time-outs.
// Then it waits until nothing is prepared and every log is final, and checks the invariants
// (faults-3pc-invariants.ts). Used by `npm run faults -- 3pc` and apps/telemedicine/test/three-phase.fault-spec.ts.
import {
  ConsultDatabases,
  consultFindings,
  describeState,
  outcomeOf,
  unsettledReason,
} from './faults-3pc-invariants';
import {
  ALONE_SETTLE_MS,
  type ConsultTrace,
  type Finding,
  PARTITION_MS,
  THREE_PHASE_FAULT_ENV,
  type ThreePhaseFaultLabOptions,
  type ThreePhaseTrialPlan,
  type ThreePhaseTrialResult,
} from './faults-3pc-plan';
import { failureSummary } from './bench-http';
import { sleep } from './faults-outbox-load';
import { freshTrialRecord, phaseClock, tallyFindings } from './faults-report';
import { describeExit, type ExitInfo, type ServiceProcess } from './service-process';
import { CONSULT_SERVICES, type ConsultServiceName, TelemedicineCluster } from './telemedicine-cluster';

export * from './faults-3pc-plan';

/** Batches of consults a trial sends at most, until its fault happens. */
const MAX_BATCHES = 3;

/** The fault-injection set-up: fresh databases, the three services behind their proxies. */
export class ThreePhaseFaultLab {
  readonly cluster: TelemedicineCluster;
  private readonly db: ConsultDatabases;
  private readonly results: ThreePhaseTrialResult[] = [];
  private readonly reported = new Map<string, Finding>();
  /** Every consult completed in the run. */
  private readonly traces: ConsultTrace[] = [];
  private readonly log: (line: string) => void;
  private readonly perTrial: number;
  /** Tells this run's correlation ids from another's. */
  private readonly runId = Date.now().toString(36);

  private constructor(private readonly options: ThreePhaseFaultLabOptions) {
    this.log = options.log ?? (() => undefined);
    this.perTrial = options.consultsPerTrial ?? 3;
    this.cluster = new TelemedicineCluster({
      basePort: options.basePort,
      suffix: options.suffix,
      proxied: true,
      log: this.log,
      env: THREE_PHASE_FAULT_ENV,
    });
    this.db = new ConsultDatabases(this.cluster);
  }

  /** Re-creates the databases, starts the proxies and the services, seeds a patient per concurrent consult. */
  static async open(options: ThreePhaseFaultLabOptions): Promise<ThreePhaseFaultLab> {
    const lab = new ThreePhaseFaultLab(options);
    try {
      await lab.cluster.start(lab.perTrial);
    } catch (error) {
      await lab.close();
      throw error;
    }
    return lab;
  }

  get trials(): readonly ThreePhaseTrialResult[] {
    return this.results;
  }

  async runTrial(plan: ThreePhaseTrialPlan): Promise<ThreePhaseTrialResult> {
    const began = Date.now();
    const result: ThreePhaseTrialResult = {
      ...plan,
      injected: false,
      consults: [],
      answered200: 0,
      answered409: 0,
      answered503: 0,
      unanswered: 0,
      committed: 0,
      aborted: 0,
      ...freshTrialRecord(),
    };
    this.results.push(result);
    const phase = phaseClock(result.phases);
    result.problems.push(...(await this.ensureUp()));
    const interim: Finding[] = [];
    if (plan.fault === 'coordinator-kill') await this.coordinatorKill(result, interim, phase);
    else if (plan.fault === 'participant-kill') await this.participantKill(result, phase);
    else await this.partition(result, phase);

    const settleStart = Date.now();
    const settle = await this.awaitSettled(result.consults, this.options.settleTimeoutMs ?? 60_000);
    if (settle.settled) result.settleMs = Date.now() - settleStart;
    else
      result.problems.push(
        `not settled ${Math.round((Date.now() - settleStart) / 1000)} s after the ${plan.fault === 'partition' ? 'heal' : 'restart'}: ${settle.reason}`,
      );
    result.problems.push(...settle.restarted);
    phase('settle');

    const fresh = [...interim, ...(await this.check(result.consults))].filter(
      (f) => !this.reported.has(f.key),
    );
    for (const trace of result.consults) {
      if (trace.outcome === 'committed') result.committed += 1;
      if (trace.outcome === 'aborted') result.aborted += 1;
    }
    tallyFindings(result, fresh, result.problems, this.reported);
    phase('check');
    result.seconds = (Date.now() - began) / 1000;
    return result;
  }

  /**
   * Telemedicine armed at the point; consults sent until it dies; the EMR and the inbox left to settle
   * alone (their branches must end, and the same way); telemedicine restarted without the fault.
   */
  private async coordinatorKill(
    result: ThreePhaseTrialResult,
    interim: Finding[],
    phase: (name: string) => void,
  ): Promise<void> {
    const point = result.point!;
    const victim = await this.arm('telemedicine', { FAULT_KILL_AT: point });
    phase('arm');
    const exit = await this.sendUntil(result, () => !victim.alive, victim);
    phase('load');
    if (!this.noteExit(result, 'telemedicine', exit)) {
      await this.restart('telemedicine');
      return;
    }
    await this.lookUpGtids(result.consults);
    const deadline = exit!.at + ALONE_SETTLE_MS;
    let reason = '';
    for (;;) {
      reason = await this.aloneReason(result.consults);
      if (reason === '' || Date.now() > deadline) break;
      await sleep(200);
    }
    if (reason === '') result.aloneMs = Date.now() - exit!.at;
    for (const trace of result.consults) {
      const state = await this.db.state(trace);
      const { emr, 'referral-inbox': inbox } = state.parts;
      if (reason !== '' && emr.prepared + inbox.prepared > 0)
        interim.push({
          key: `consult:${trace.serviceRequestId}:blocked`,
          kind: 'violation',
          message: `ServiceRequest/${trace.serviceRequestId} (gtid ${trace.gtid ?? 'none'}): the EMR and the inbox still held prepared branches ${ALONE_SETTLE_MS / 1000} s after telemedicine died at ${point}: ${describeState(state)}`,
        });
      else if (emr.applied !== inbox.applied)
        interim.push({
          key: `consult:${trace.serviceRequestId}:alone-split`,
          kind: 'violation',
          message: `ServiceRequest/${trace.serviceRequestId} (gtid ${trace.gtid ?? 'none'}): with telemedicine down after ${point}, the EMR and the inbox ended differently: ${describeState(state)}`,
        });
    }
    phase('alone');
    await this.restart('telemedicine');
    phase('restart');
  }

  /** The EMR or the inbox armed at the point; consults sent until it dies; restarted half a second later. */
  private async participantKill(result: ThreePhaseTrialResult, phase: (name: string) => void): Promise<void> {
    const service = result.victim!;
    const victim = await this.arm(service, { FAULT_KILL_AT: result.point! });
    phase('arm');
    const exit = await this.sendUntil(result, () => !victim.alive, victim);
    phase('load');
    if (this.noteExit(result, service, exit)) await sleep(500);
    await this.restart(service);
    phase('restart');
  }

  /** The inbox cut off at the first PreCommit that reaches its proxy; healed once both time-outs ran out. */
  private async partition(result: ThreePhaseTrialResult, phase: (name: string) => void): Promise<void> {
    const proxy = this.cluster.proxies['referral-inbox'];
    let cutAt: number | undefined;
    void proxy.cutOnRequest('"op":"pre-commit"').then(() => {
      cutAt = Date.now();
    });
    await this.sendUntil(result, () => cutAt !== undefined);
    phase('load');
    if (cutAt === undefined) {
      proxy.disarm();
      result.problems.push('no PreCommit reached the inbox: nothing cut');
      return;
    }
    result.injected = true;
    await this.lookUpGtids(result.consults);
    await sleep(Math.max(0, cutAt + PARTITION_MS - Date.now()));
    const waiting = await this.db.preparedBranches();
    result.notes.push(
      `inbox cut off for ${((Date.now() - cutAt) / 1000).toFixed(1)} s; ${waiting.length} branch(es) waiting for it at the heal`,
    );
    proxy.heal();
    phase('partition');
  }

  /**
   * Sends batches of consults (each completed concurrently) until `done` holds after one, `MAX_BATCHES`
   * at most; waits for `victim` to die after each. Returns the victim's exit, if it died.
   */
  private async sendUntil(
    result: ThreePhaseTrialResult,
    done: () => boolean,
    victim?: ServiceProcess,
  ): Promise<ExitInfo | undefined> {
    for (let batch = 0; batch < MAX_BATCHES && !done(); batch += 1) {
      const opened = [];
      for (let n = 0; n < this.perTrial; n += 1)
        opened.push(
          await this.cluster.openConsult(this.cluster.patientIds[n % this.cluster.patientIds.length]),
        );
      const traces = opened.map((consult, n): ConsultTrace => ({
        serviceRequestId: consult.serviceRequestId,
        correlationId: `faults3pc-${this.runId}-${result.index}-${batch}-${n}`,
      }));
      result.consults.push(...traces);
      this.traces.push(...traces);
      const refusals: string[] = [];
      await Promise.all(
        traces.map(async (trace) => {
          const answer = await this.cluster.complete(trace.serviceRequestId, {
            correlationId: trace.correlationId,
            timeoutMs: 60_000,
          });
          if (answer.status !== undefined) trace.status = answer.status;
          const gtid = answer.headers?.['x-gtid'];
          if (typeof gtid === 'string') trace.gtid = gtid;
          if (answer.status !== 200) refusals.push(failureSummary(answer));
          if (answer.status === 200) result.answered200 += 1;
          else if (answer.status === 409) result.answered409 += 1;
          else if (answer.status === 503) result.answered503 += 1;
          else if (answer.status === undefined) result.unanswered += 1;
          else result.notes.push(`ServiceRequest/${trace.serviceRequestId} answered ${answer.status}`);
        }),
      );
      if (victim)
        await victim.waitForExit(
          batch === MAX_BATCHES - 1 ? (this.options.victimTimeoutMs ?? 10_000) : 1_000,
        );
      if (!done())
        result.notes.push(
          `batch ${batch + 1} ended without the fault${refusals.length > 0 ? `: ${refusals[0].slice(0, 300)}` : ''}`,
        );
    }
    return victim?.exit;
  }

  /** Records the victim's exit on the trial; false (with a problem) when it did not die at its point. */
  private noteExit(
    result: ThreePhaseTrialResult,
    service: ConsultServiceName,
    exit: ExitInfo | undefined,
  ): boolean {
    if (exit === undefined) {
      result.problems.push(`${service} never reached ${result.point ?? 'its point'}: nothing injected`);
      return false;
    }
    result.victimExit = describeExit(exit);
    result.injected = exit.signal === 'SIGKILL';
    if (!result.injected)
      result.problems.push(`${service} exited with ${result.victimExit}, not at ${result.point}`);
    return result.injected;
  }

  /** Why the EMR and the inbox are not settled yet ('' once they hold nothing prepared of the trial). */
  private async aloneReason(traces: readonly ConsultTrace[]): Promise<string> {
    await this.lookUpGtids(traces);
    for (const trace of traces) {
      const state = await this.db.state(trace);
      const held = (['emr', 'referral-inbox'] as const).filter((s) => state.parts[s].prepared > 0);
      if (held.length > 0) return `${trace.serviceRequestId}: still prepared at ${held.join(', ')}`;
    }
    return '';
  }

  /** Fills in the gtid of consults whose completion got no answer, from telemedicine's log. */
  private async lookUpGtids(traces: readonly ConsultTrace[]): Promise<void> {
    for (const trace of traces) {
      if (trace.gtid !== undefined) continue;
      const logged = await this.db.logged(trace.correlationId);
      if (logged) trace.gtid = logged.gtid;
    }
  }

  /** Restarts `service` with `env` (its time-outs stay those of the run). */
  private async arm(service: ConsultServiceName, env: Record<string, string>): Promise<ServiceProcess> {
    await this.cluster.processes[service].stop();
    return this.cluster.startService(service, env);
  }

  private async restart(service: ConsultServiceName): Promise<void> {
    await this.cluster.processes[service].stop();
    await this.cluster.startService(service);
  }

  /** Restarts any service found dead (it should not be); what it restarted. */
  private async ensureUp(): Promise<string[]> {
    const restarted: string[] = [];
    for (const service of CONSULT_SERVICES) {
      const process = this.cluster.processes[service];
      if (process.alive) continue;
      restarted.push(
        `${service} was found dead (${describeExit(process.exit!)}) and restarted${process.outputTail(5)}`,
      );
      await this.cluster.startService(service);
    }
    return restarted;
  }

  /** Waits until every consult is settled twice in a row; services that die meanwhile are restarted. */
  private async awaitSettled(
    traces: readonly ConsultTrace[],
    timeoutMs: number,
  ): Promise<{ settled: boolean; reason: string; restarted: string[] }> {
    const deadline = Date.now() + timeoutMs;
    const restarted: string[] = [];
    let streak = 0;
    let reason = '';
    while (Date.now() < deadline) {
      restarted.push(...(await this.ensureUp()));
      reason = await this.unsettled(traces).catch((error: unknown) => `cannot observe: ${String(error)}`);
      streak = reason === '' ? streak + 1 : 0;
      if (streak >= 2) return { settled: true, reason, restarted };
      await sleep(250);
    }
    return { settled: false, reason, restarted };
  }

  private async unsettled(traces: readonly ConsultTrace[]): Promise<string> {
    await this.lookUpGtids(traces);
    for (const trace of traces) {
      const reason = unsettledReason(trace, await this.db.state(trace));
      if (reason !== '') return reason;
    }
    return '';
  }

  /** Every invariant of these consults, and every 3PC branch still prepared in the run's databases. */
  private async check(traces: readonly ConsultTrace[]): Promise<Finding[]> {
    await this.lookUpGtids(traces);
    const findings: Finding[] = [];
    for (const trace of traces) {
      const state = await this.db.state(trace);
      trace.outcome = outcomeOf(state);
      const logged = await this.db.logged(trace.correlationId);
      findings.push(...(await consultFindings(this.cluster, trace, state, logged?.gtid)));
    }
    for (const branch of await this.db.preparedBranches())
      findings.push({ key: `prepared:${branch}`, kind: 'in-doubt', message: `still prepared: ${branch}` });
    return findings;
  }

  /** After the last trial: every consult of the run checked once more; what is still prepared anywhere. */
  async finish(): Promise<{ findings: Finding[]; leftInDoubt: number }> {
    await this.awaitSettled(this.traces, 60_000);
    const fresh = (await this.check(this.traces)).filter((f) => !this.reported.has(f.key));
    for (const finding of fresh) this.reported.set(finding.key, finding);
    return { findings: fresh, leftInDoubt: (await this.db.preparedBranches()).length };
  }

  /** The invariants as they stand over every consult of the run, every finding (reported before or not). */
  evaluate(): Promise<Finding[]> {
    return this.check(this.traces);
  }

  /** Rows of a query in one of the run's databases (for specs that plant a broken state). */
  rows<T extends object>(service: ConsultServiceName, sql: string, params: unknown[] = []): Promise<T[]> {
    return this.db.rows<T>(service, sql, params);
  }

  async close(): Promise<void> {
    await this.db.close();
    await this.cluster.stop();
  }
}
