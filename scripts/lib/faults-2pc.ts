// Fault trials of the EMR ↔ LIS ↔ PACS record update over two-phase commit. One trial: restart the victim
// with FAULT_KILL_AT=<protocol point> (it SIGKILLs itself when the protocol reaches that point), post one
// workflow bundle with a chosen correlation id, await the victim's death, restart it without the fault, let recovery
// resolve the transaction, then check the invariants of DESIGN.md section 3 directly in the three databases.
// Used by `npm run faults -- 2pc` (scripts/faults.ts) and by apps/emr/test/two-phase-commit.fault-spec.ts.
import { Client } from 'pg';
import type { TwoPhaseServiceName as ServiceName } from '../services';
import {
  clientConfig,
  Log,
  recreateRunDatabases,
  runDatabaseName,
  ServiceCluster,
  serviceNames,
} from './bench-cluster';
import { failureSummary, postBundle } from './bench-http';
import {
  COORDINATOR,
  DatabaseObservation,
  decisionOf,
  DEFAULT_FAULT_ENV,
  EXPECTED,
  Expected,
  FaultLabOptions,
  IMAGING_CODE,
  isFinal,
  LAB_CODE,
  MRN_SYSTEM,
  Observation,
  PARTICIPANTS,
  REACHED_BY_RECOVERY,
  TrialPlan,
  TrialResult,
} from './faults-2pc-plan';
import { recordUpdateBundle } from './sample-bundle';
import { describeExit } from './service-process';

export * from './faults-2pc-plan';

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** The fault-injection set-up: fresh databases, the three services, one connection to each database. */
export class TwoPhaseFaultLab {
  private readonly clients = new Map<ServiceName, Client>();
  private readonly unsettled = new Map<string, TrialResult>();
  private readonly results: TrialResult[] = [];
  private readonly runId = Date.now().toString(36);
  private readonly log: Log;

  private constructor(
    private readonly options: FaultLabOptions,
    readonly cluster: ServiceCluster,
  ) {
    this.log = options.log ?? (() => undefined);
  }

  /** Re-creates the fault databases and starts emr, lis and pacs on them. */
  static async open(options: FaultLabOptions): Promise<TwoPhaseFaultLab> {
    const log = options.log ?? (() => undefined);
    const cluster = new ServiceCluster({
      suffix: options.suffix,
      portBase: options.portBase,
      env: { ...DEFAULT_FAULT_ENV, ...options.env },
      log,
    });
    await cluster.assertPortsFree();
    await recreateRunDatabases(options.suffix, log);
    const lab = new TwoPhaseFaultLab(options, cluster);
    try {
      for (const name of serviceNames) {
        const client = new Client(clientConfig(runDatabaseName(name, options.suffix)));
        client.on('error', () => undefined);
        await client.connect();
        lab.clients.set(name, client);
      }
      await cluster.startAll();
      log(`services up: ${serviceNames.map((s) => `${s} ${cluster.url(s)}`).join(', ')}`);
    } catch (error) {
      await lab.close();
      throw error;
    }
    return lab;
  }

  /** Every trial run so far (results of unsettled ones are updated once they settle). */
  get trials(): readonly TrialResult[] {
    return this.results;
  }

  async close(): Promise<void> {
    await this.cluster.stopAll();
    await Promise.all([...this.clients.values()].map((c) => c.end().catch(() => undefined)));
    this.clients.clear();
  }

  private client(name: ServiceName): Client {
    const client = this.clients.get(name);
    if (!client) throw new Error(`no connection to ${name}'s database`);
    return client;
  }

  /** Restarts any service that is not running (a trial must start from a whole system). */
  private async ensureAllUp(): Promise<void> {
    for (const name of serviceNames) {
      if (this.cluster.isRunning(name)) continue;
      const exit = this.cluster.forget(name);
      if (exit) this.log(`${name} had exited (${describeExit(exit)}) outside a trial; restarting it`);
      await this.cluster.start(name);
    }
  }

  async runTrial(plan: TrialPlan): Promise<TrialResult> {
    const correlationId = `faults-${this.runId}-${plan.index}`;
    const prefix = `FAULT-${this.runId}`;
    const mrn = `${prefix}-${plan.index}`;
    const result: TrialResult = {
      ...plan,
      correlationId,
      mrn,
      http: 'none',
      victimDied: false,
      settled: false,
      faultNotes: [],
      violations: [],
      lost: false,
      duplicated: false,
      leftInDoubt: false,
    };
    this.results.push(result);

    await this.ensureAllUp();
    if (REACHED_BY_RECOVERY.includes(plan.point)) await this.settleWhere((state) => state === 'committing');

    // Arm the victim.
    await this.cluster.stop(plan.victim);
    const victim = await this.cluster.start(plan.victim, { FAULT_KILL_AT: plan.point });

    const response = await postBundle(this.cluster.url('emr'), recordUpdateBundle(plan.index, prefix), {
      correlationId,
      timeoutMs: 30_000,
    });
    result.http = response.status ?? 'none';
    if (response.status !== 200) result.httpDetail = failureSummary(response);

    const exit = await victim.waitForExit(this.options.deathTimeoutMs ?? 20_000);
    const killedAt = exit?.at ?? Date.now();
    if (exit) {
      result.victimDied = true;
      result.victimExit = describeExit(exit);
      this.cluster.forget(plan.victim);
      if (exit.signal !== 'SIGKILL') {
        result.faultNotes.push(
          `${plan.victim} exited with ${describeExit(exit)}, not at the fault point${victim.outputTail(5)}`,
        );
      }
    } else {
      // The protocol never reached the point: nothing was injected. Disarm and report it.
      await this.cluster.stop(plan.victim);
    }
    await this.ensureAllUp();

    // Resolution: no branch left prepared anywhere and the coordinator has decided.
    const restarted = Date.now();
    const deadline = restarted + (this.options.resolveTimeoutMs ?? 30_000);
    let observation = await this.observe(correlationId, mrn);
    while (!this.quiescent(observation) && Date.now() < deadline) {
      await sleep(200);
      observation = await this.observe(correlationId, mrn);
    }
    if (this.quiescent(observation)) result.resolveMs = Date.now() - killedAt;
    else result.faultNotes.push(`unresolved ${(deadline - restarted) / 1000} s after the restart`);
    this.judge(result, observation, false);
    if (isFinal(observation.txState) && this.quiescent(observation)) result.settled = true;
    else this.unsettled.set(correlationId, result);
    return result;
  }

  /**
   * Checks one transaction's invariants as they stand, for a correlation id and MRN of the caller's
   * choosing (the fault spec plants broken states with it to show that the checks catch them). Not part
   * of any run.
   */
  async checkTransaction(correlationId: string, mrn: string, http: number | 'none'): Promise<TrialResult> {
    const result: TrialResult = {
      index: -1,
      point: '2pc.coordinator.before-decision',
      victim: COORDINATOR,
      correlationId,
      mrn,
      http,
      victimDied: true,
      settled: true,
      resolveMs: 0,
      faultNotes: [],
      violations: [],
      lost: false,
      duplicated: false,
      leftInDoubt: false,
    };
    this.judge(result, await this.observe(correlationId, mrn), true);
    return result;
  }

  /** Runs SQL in one of the lab's databases (the fault spec plants broken states with it). */
  async sql(service: ServiceName, text: string, parameters: unknown[] = []): Promise<void> {
    await this.client(service).query(text, parameters);
  }

  /**
   * Waits (bounded) until every trial's global transaction is marked committed or aborted, then checks the
   * invariants again on the final state, and checks that the databases hold nothing beyond what the
   * committed trials wrote. Returns violations that belong to no single trial.
   */
  async settle(): Promise<string[]> {
    await this.settleWhere(() => true);
    return this.globalViolations();
  }

  /** Waits until no unsettled transaction is in a state `matches` accepts; bounded by settleTimeoutMs. */
  private async settleWhere(matches: (state: string | undefined) => boolean): Promise<void> {
    const deadline = Date.now() + (this.options.settleTimeoutMs ?? 120_000);
    let announced = false;
    for (;;) {
      const waiting: TrialResult[] = [];
      for (const trial of [...this.unsettled.values()]) {
        const observation = await this.observe(trial.correlationId, trial.mrn);
        if (isFinal(observation.txState) && this.quiescent(observation)) {
          trial.settled = true;
          this.judge(trial, observation, true);
          this.unsettled.delete(trial.correlationId);
        } else if (matches(observation.txState)) {
          waiting.push(trial);
        }
      }
      if (waiting.length === 0) return;
      if (Date.now() >= deadline) {
        for (const trial of waiting) {
          const observation = await this.observe(trial.correlationId, trial.mrn);
          this.judge(trial, observation, true);
          this.unsettled.delete(trial.correlationId);
        }
        return;
      }
      if (!announced) {
        this.log(
          `waiting for ${waiting.map((t) => t.gtid ?? t.correlationId).join(', ')} to be marked final by the coordinator`,
        );
        announced = true;
      }
      await sleep(250);
    }
  }

  private quiescent(observation: Observation): boolean {
    return observation.prepared.length === 0 && observation.txState !== 'preparing';
  }

  /** Reads the transaction's state, its prepared branches and the record update's rows in every database. */
  async observe(correlationId: string, mrn: string): Promise<Observation> {
    const emr = this.client('emr');
    const [tx] = (
      await emr.query<{ gtid: string; state: string }>(
        'SELECT gtid, state FROM tx_global WHERE correlation_id = $1 ORDER BY created_at DESC LIMIT 1',
        [correlationId],
      )
    ).rows;
    const gtid = tx?.gtid;
    const databases = serviceNames.map((s) => runDatabaseName(s, this.options.suffix));
    const prepared = await emr.query<{ database: string }>(
      `SELECT database FROM pg_prepared_xacts WHERE database = ANY($1) AND split_part(gid, '|', 3) = $2`,
      [databases, gtid ?? ''],
    );
    const observed = await Promise.all(serviceNames.map((name) => this.observeDatabase(name, gtid, mrn)));
    return {
      gtid,
      txState: tx?.state,
      prepared: prepared.rows.map((r) => r.database),
      databases: Object.fromEntries(serviceNames.map((name, i) => [name, observed[i]])) as Record<
        ServiceName,
        DatabaseObservation
      >,
    };
  }

  private async observeDatabase(
    name: ServiceName,
    gtid: string | undefined,
    mrn: string,
  ): Promise<DatabaseObservation> {
    const client = this.client(name);
    const patients = (
      await client.query<{ id: string }>(
        `SELECT id FROM fhir_resource
          WHERE resource_type = 'Patient' AND NOT deleted AND content->'identifier' @> $1::jsonb ORDER BY id`,
        [JSON.stringify([{ system: MRN_SYSTEM, value: mrn }])],
      )
    ).rows.map((r) => r.id);
    const related = (
      await client.query<{ resource_type: string; id: string; category: string[] | null }>(
        `SELECT resource_type, id,
                (SELECT array_agg(c->>'code') FROM jsonb_array_elements(content->'category') cat,
                        jsonb_array_elements(cat->'coding') c) AS category
           FROM fhir_resource
          WHERE NOT deleted AND resource_type IN ('Encounter', 'ServiceRequest')
            AND content->'subject'->>'reference' = ANY($1) ORDER BY id`,
        [patients.map((id) => `Patient/${id}`)],
      )
    ).rows;
    const orders = related.filter((r) => r.resource_type === 'ServiceRequest');
    const observation: DatabaseObservation = {
      patients,
      encounters: related.filter((r) => r.resource_type === 'Encounter').map((r) => r.id),
      lab: orders.filter((r) => r.category?.includes(LAB_CODE)).map((r) => r.id),
      imaging: orders.filter((r) => r.category?.includes(IMAGING_CODE)).map((r) => r.id),
      other: orders
        .filter((r) => !r.category?.includes(LAB_CODE) && !r.category?.includes(IMAGING_CODE))
        .map((r) => r.id),
      presence: 'partial',
    };
    if (name !== COORDINATOR && gtid !== undefined) {
      const [branch] = (
        await client.query<{ state: string }>(
          'SELECT state FROM tx_participant_branch WHERE coordinator = $1 AND gtid = $2',
          [COORDINATOR, gtid],
        )
      ).rows;
      observation.branch = branch?.state;
    }
    const expected = EXPECTED[name];
    const counts = {
      patients: observation.patients.length,
      encounters: observation.encounters.length,
      lab: observation.lab.length,
      imaging: observation.imaging.length,
    };
    const total =
      counts.patients + counts.encounters + counts.lab + counts.imaging + observation.other.length;
    if (total === 0) observation.presence = 'absent';
    else if (
      observation.other.length === 0 &&
      (Object.keys(expected) as (keyof Expected)[]).every((k) => counts[k] === expected[k])
    ) {
      observation.presence = 'complete';
    }
    return observation;
  }

  /** Sets the trial's violations from an observation. `final`: the coordinator's record must be final too. */
  private judge(trial: TrialResult, observation: Observation, final: boolean): void {
    const violations = [...trial.faultNotes];
    const { databases } = observation;
    trial.observation = observation;
    trial.gtid = observation.gtid ?? trial.gtid;
    trial.decision = this.quiescent(observation) ? decisionOf(observation.txState) : undefined;
    trial.lost = false;
    trial.duplicated = false;
    trial.leftInDoubt = trial.resolveMs === undefined;

    if (observation.prepared.length > 0) {
      trial.leftInDoubt = true;
      violations.push(`unresolved: prepared transaction left in ${observation.prepared.join(', ')}`);
    }
    if (observation.txState === 'preparing' || (final && !isFinal(observation.txState))) {
      trial.leftInDoubt = true;
      violations.push(`unresolved: tx_global is still '${observation.txState}'`);
    }

    for (const name of serviceNames) {
      const db = databases[name];
      const expected = EXPECTED[name];
      if (
        db.patients.length > 1 ||
        db.encounters.length > expected.encounters ||
        db.lab.length > expected.lab ||
        db.imaging.length > expected.imaging ||
        db.other.length > 0
      ) {
        trial.duplicated = true;
        violations.push(
          `duplicated in ${name}: ${db.patients.length} patient(s), ${db.encounters.length} encounter(s), ` +
            `${db.lab.length} lab / ${db.imaging.length} imaging / ${db.other.length} other order(s)`,
        );
      } else if (db.presence === 'partial') {
        violations.push(
          `partial write in ${name}: ${db.patients.length} patient(s), ${db.encounters.length} encounter(s), ` +
            `${db.lab.length} lab / ${db.imaging.length} imaging order(s)`,
        );
      }
    }

    const complete = serviceNames.filter((n) => databases[n].presence === 'complete');
    const absent = serviceNames.filter((n) => databases[n].presence === 'absent');
    if (complete.length > 0 && absent.length > 0) {
      violations.push(`not atomic: present in ${complete.join(', ')}, absent in ${absent.join(', ')}`);
    }
    if (trial.decision === 'committed' && complete.length < serviceNames.length) {
      violations.push(
        `decision is commit but the update is missing in ${serviceNames.filter((n) => !complete.includes(n)).join(', ')}`,
      );
    }
    if (trial.decision === 'aborted' && absent.length < serviceNames.length) {
      violations.push(
        `decision is abort (tx_global ${observation.txState ?? 'absent'}) but data is in ${serviceNames.filter((n) => !absent.includes(n)).join(', ')}`,
      );
    }
    if (trial.http === 200 && (complete.length < serviceNames.length || trial.decision === 'aborted')) {
      trial.lost = true;
      violations.push('lost: the client got 200 but the update is not in every database');
    }
    if (trial.http === 503 && complete.length > 0) {
      violations.push(`the client was told the update aborted (503) but it is in ${complete.join(', ')}`);
    }

    // The copies live under the EMR's ids.
    if (complete.length === serviceNames.length) {
      const emr = databases.emr;
      for (const name of PARTICIPANTS) {
        const copy = databases[name];
        const orders = name === 'lis' ? [copy.lab, emr.lab] : [copy.imaging, emr.imaging];
        if (copy.patients[0] !== emr.patients[0] || orders[0][0] !== orders[1][0]) {
          violations.push(`${name} keeps its copies under other ids than emr`);
        }
      }
    }
    // A participant's branch row commits with its data.
    for (const name of PARTICIPANTS) {
      const db = databases[name];
      if (db.presence === 'complete' && db.branch !== 'committed') {
        violations.push(`${name} holds the data but its branch row is '${db.branch ?? 'absent'}'`);
      }
      if (db.presence === 'absent' && db.branch === 'committed') {
        violations.push(`${name}'s branch row says committed but the data is absent`);
      }
    }
    trial.violations = violations;
  }

  /** Rows no trial accounts for: every Patient, Encounter and ServiceRequest comes from a committed trial. */
  private async globalViolations(): Promise<string[]> {
    const committed = this.results.filter((t) => t.decision === 'committed').length;
    const violations: string[] = [];
    for (const name of serviceNames) {
      const rows = await this.client(name).query<{ resource_type: string; n: string }>(
        `SELECT resource_type, count(*) AS n FROM fhir_resource WHERE NOT deleted GROUP BY resource_type`,
      );
      const counts = new Map(rows.rows.map((r) => [r.resource_type, Number(r.n)]));
      const expected = EXPECTED[name];
      const want: Record<string, number> = {
        Patient: committed * expected.patients,
        Encounter: committed * expected.encounters,
        ServiceRequest: committed * (expected.lab + expected.imaging),
      };
      for (const type of new Set([...Object.keys(want), ...counts.keys()])) {
        const have = counts.get(type) ?? 0;
        if (have !== (want[type] ?? 0)) {
          violations.push(
            `${name} holds ${have} ${type} row(s) where ${committed} committed trial(s) account for ${want[type] ?? 0}`,
          );
        }
      }
    }
    return violations;
  }
}
