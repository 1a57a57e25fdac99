// Fault trials of the laboratory and imaging loop: the EMR commits a record update with a laboratory order
// (→ LIS → OML^O21 over MLLP → analyzer → ORU^R01 back → LIS → EMR) and an imaging order (→ PACS → worklist
// in Orthanc → modality → STOW-RS → PACS → EMR). One trial posts one update, injects one fault — the
// analyzer down while its order waits, the LIS SIGKILLed with half a result frame on its listener, Orthanc
// restarted around the study — lets everything settle and checks that each order reached the analyzer or
// the modality once and its result is in the EMR once, with every order completed and nothing left
// pending. Used by `npm run faults -- hl7` (scripts/faults.ts) and apps/lis/test/hl7-loop.fault-spec.ts.
import { existsSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { type ReceivedOrder, buildOruR01, PANELS } from './analyzer-simulator';
import { failureSummary, postBundle } from './bench-http';
import { checkRunState, checkTrialOrders, type OutsideView, queryOver } from './faults-hl7-invariants';
import type {
  Finding,
  Hl7FaultLabOptions,
  Hl7TrialPlan,
  Hl7TrialResult,
  TrialOrders,
} from './faults-hl7-plan';
import { Hl7Rig } from './faults-hl7-rig';
import { freshTrialRecord, phaseClock, tallyFindings } from './faults-report';
import { recordUpdateBundle } from './sample-bundle';
import { describeExit, type ExitInfo } from './service-process';

export * from './faults-hl7-plan';

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
const LAB_CATEGORY = '108252007';
const LAB_PANEL = '58410-2';

/** Polls `probe` every `everyMs` until it returns a value other than undefined, or `timeoutMs` passed. */
async function poll<T>(
  probe: () => Promise<T | undefined>,
  timeoutMs: number,
  everyMs = 200,
): Promise<T | undefined> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined || Date.now() >= deadline) return value;
    await sleep(everyMs);
  }
}

/** Writes the start of an MLLP frame (VT and `text`, no end) and leaves the connection open. */
function writeHalfFrame(port: number, text: string): Promise<{ destroy(): void }> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port }, () => {
      socket.write(`\x0b${text}`, () => resolve(socket));
    });
    socket.on('error', reject);
  });
}

/** The listener-killed fault, armed before the record update and fired by the analyzer's first result send. */
interface ArmedKill {
  controlId: string;
  fired?: Promise<{ exit: ExitInfo; restarted: Promise<unknown> } | { error: string }>;
}

/** The fault-injection set-up and its trials. */
export class Hl7FaultLab {
  private readonly results: Hl7TrialResult[] = [];
  private readonly reported = new Map<string, Finding>();
  private readonly runId = Date.now().toString(36);
  private armed?: ArmedKill;
  /** What the simulators and the archive said about each trial's orders, for `recheck`. */
  private readonly outside = new Map<number, OutsideView>();

  private constructor(private readonly options: Hl7FaultLabOptions) {}

  private rigOrUndefined?: Hl7Rig;
  private get rig(): Hl7Rig {
    if (!this.rigOrUndefined) throw new Error('the lab is not open');
    return this.rigOrUndefined;
  }

  static async open(options: Hl7FaultLabOptions): Promise<Hl7FaultLab> {
    const lab = new Hl7FaultLab(options);
    lab.rigOrUndefined = await Hl7Rig.open(options, (order, attempt) => lab.beforeResult(order, attempt));
    return lab;
  }

  get trials(): readonly Hl7TrialResult[] {
    return this.results;
  }

  /** What the analyzer and the modality did over the whole run. */
  get totals(): { analyzerOrders: number; analyzerResults: number; studiesStored: number } {
    return {
      analyzerOrders: this.rigOrUndefined?.analyzer?.counters.ordersReceived ?? 0,
      analyzerResults: this.rigOrUndefined?.analyzer?.counters.resultsAcknowledged ?? 0,
      studiesStored: this.rigOrUndefined?.modality?.studiesStored ?? 0,
    };
  }

  async close(): Promise<void> {
    await this.rigOrUndefined?.close();
  }

  private get query() {
    return queryOver(this.rig.clients);
  }

  /** The analyzer's hook: on the armed trial's first result, half a frame on the listener, then SIGKILL. */
  private beforeResult(order: ReceivedOrder, attempt: number): Promise<void> {
    const armed = this.armed;
    if (!armed || armed.fired || attempt !== 1) return Promise.resolve();
    const fire = async () => {
      const whole = buildOruR01(order, { controlId: armed.controlId }).toString();
      // Cut inside the OBX segments: a frame whose header, patient and order are all there.
      const socket = await writeHalfFrame(
        this.options.ports.listener,
        whole.slice(0, Math.floor(whole.length * 0.7)),
      );
      await sleep(200);
      const exit = await this.rig.cluster.get('lis').kill();
      this.rig.cluster.forget('lis');
      socket.destroy();
      return { exit, restarted: this.rig.cluster.start('lis') };
    };
    armed.fired = fire().catch((error: unknown) => ({ error: String(error) }));
    return armed.fired.then(() => undefined);
  }

  /** Restarts what a previous trial left down: a service, Orthanc, the analyzer. */
  private async ensureUp(problems: string[]): Promise<void> {
    for (const name of ['emr', 'lis', 'pacs'] as const) {
      if (this.rig.cluster.isRunning(name)) continue;
      const exit = this.rig.cluster.forget(name);
      if (exit) problems.push(`${name} had exited (${describeExit(exit)}) outside its fault; restarted`);
      await this.rig.cluster.start(name);
    }
  }

  async runTrial(plan: Hl7TrialPlan): Promise<Hl7TrialResult> {
    const began = Date.now();
    const mrn = `HL7-${this.runId}-${plan.index}`;
    const result: Hl7TrialResult = {
      ...plan,
      mrn,
      http: 'none',
      injected: false,
      resultRetries: 0,
      ...freshTrialRecord(),
    };
    this.results.push(result);
    const phase = phaseClock(result.phases);
    const { analyzer, modality, orthanc } = this.rig;
    if (!analyzer || !modality || !orthanc) throw new Error('the lab is not open');
    await this.ensureUp(result.problems);
    const before = {
      orders: analyzer.orders.length,
      results: analyzer.counters.resultsAcknowledged,
      noAnswer: analyzer.counters.resultsRefused.noAnswer,
      studies: modality.studiesStored,
    };

    let analyzerStopped: number | undefined;
    if (plan.fault === 'analyzer-down') {
      await analyzer.stop();
      analyzerStopped = Date.now();
    }
    const armed: ArmedKill | undefined =
      plan.fault === 'listener-killed'
        ? { controlId: `HALF${this.runId}${plan.index}`.slice(0, 20) }
        : undefined;
    this.armed = armed;
    phase('arm');

    const response = await postBundle(
      this.rig.cluster.url('emr'),
      recordUpdateBundle(plan.index, `HL7-${this.runId}`),
      {
        correlationId: `faults-hl7-${this.runId}-${plan.index}`,
        timeoutMs: 30_000,
      },
    );
    const answered = Date.now();
    result.http = response.status ?? 'none';
    if (response.status !== 200) result.problems.push(`record update answered ${failureSummary(response)}`);
    const orders = response.status === 200 ? await poll(() => this.ordersOf(mrn), 10_000) : undefined;
    result.orders = orders;
    phase('order');

    if (orders) {
      if (plan.fault === 'analyzer-down') {
        // Down while the LIS holds the committed order's event and tries to send it; then up on the same port.
        const queued = await poll(() => this.labOrderQueued(orders.lab), 15_000);
        await sleep(
          Math.max(0, (analyzerStopped ?? 0) + (this.options.analyzerDownMs ?? 4_000) - Date.now()),
        );
        const reached = analyzer.orders.length > before.orders;
        await analyzer.start();
        result.injected = queued === true && !reached;
        result.notes.push(`analyzer down ${((Date.now() - (analyzerStopped ?? 0)) / 1000).toFixed(1)} s`);
        if (!queued) result.problems.push('the LIS never queued the laboratory order');
      }
      await this.imaging(plan, orders, result);
      phase('imaging');
      if (armed) {
        await poll(() => Promise.resolve(armed.fired ? true : undefined), 30_000);
        const outcome = armed.fired ? await armed.fired : { error: 'the analyzer never sent the result' };
        if ('error' in outcome) result.problems.push(`listener-killed not injected: ${outcome.error}`);
        else {
          result.injected = outcome.exit.signal === 'SIGKILL';
          result.notes.push(`LIS ${describeExit(outcome.exit)} with half a frame on its listener`);
          await outcome.restarted.catch((error: unknown) =>
            result.problems.push(`LIS did not come back: ${String(error)}`),
          );
        }
      }
      phase('fault');
      const settled = await poll(() => this.settled(orders), this.options.settleTimeoutMs ?? 90_000, 250);
      if (settled) result.settleMs = Date.now() - answered;
      else if (
        orders.studyInstanceUid &&
        (await this.rig.stableStudyReported(orders.studyInstanceUid)) === false
      )
        result.problems.push(
          `not settled ${Math.round((Date.now() - answered) / 1000)} s after the record update: Orthanc never reported the study stable (no StableStudy in /changes), so the PACS never took it`,
        );
      else
        result.problems.push(
          `not settled ${Math.round((Date.now() - answered) / 1000)} s after the record update`,
        );
      await analyzer.settled();
      await sleep(1_000); // late duplicates would show now
      phase('settle');
    } else if (plan.fault === 'analyzer-down') await analyzer.start();
    this.armed = undefined;
    result.resultRetries = analyzer.counters.resultsRefused.noAnswer - before.noAnswer;

    const fresh: Finding[] = [];
    if (orders) {
      const ordersForLab = analyzer.orders
        .slice(before.orders)
        .filter((o) => o.placerOrderNumber === orders.lab);
      const outside: OutsideView = {
        analyzerOrders: new Set(ordersForLab.map((o) => o.controlId)).size,
        analyzerResults: analyzer.counters.resultsAcknowledged - before.results,
        panelSize: PANELS[LAB_PANEL].analytes.length,
        modalityAcquired: orders.accession !== undefined && modality.acquired.has(orders.accession),
        modalityStudies: modality.studiesStored - before.studies,
        archiveStudies: orders.accession ? await this.rig.archiveStudies(orders.accession) : undefined,
        halfFrameControlId: armed?.controlId,
      };
      this.outside.set(plan.index, outside);
      fresh.push(...(await checkTrialOrders(this.query, `trial:${plan.index}`, orders, outside)));
    }
    fresh.push(...(await checkRunState(this.query, ['emr', 'lis', 'pacs'])));
    for (const { queue, count } of await this.rig.deadLetters())
      fresh.push({
        key: `dead-letter-queue:${queue}:${count}`,
        kind: 'violation',
        message: `${count} message(s) in ${queue}`,
      });
    tallyFindings(
      result,
      fresh.filter((f) => !this.reported.has(f.key)),
      result.problems,
      this.reported,
    );
    phase('check');
    result.seconds = (Date.now() - began) / 1000;
    return result;
  }

  /**
   * Checks a finished trial's orders again as they stand now (the fault spec plants broken states with
   * `sql` to show that the checks see them). Not part of any run.
   */
  async recheck(trial: Hl7TrialResult): Promise<Finding[]> {
    const outside = this.outside.get(trial.index);
    if (!trial.orders || !outside) throw new Error(`trial ${trial.index} has no orders to check`);
    return checkTrialOrders(this.query, `recheck:${trial.index}`, trial.orders, outside);
  }

  /** Runs SQL in one of the run's databases. */
  async sql(service: 'emr' | 'lis' | 'pacs', sql: string, parameters: unknown[] = []): Promise<void> {
    await this.query(service, sql, parameters);
  }

  /** The imaging side of a trial: the modality stores the study; Orthanc restarted around it when that is the fault. */
  private async imaging(plan: Hl7TrialPlan, orders: TrialOrders, result: Hl7TrialResult): Promise<void> {
    const { modality, orthanc } = this.rig;
    if (!modality || !orthanc) return;
    orders.accession = (await poll(() => this.imagingOrder(orders.imaging), 15_000))?.accession;
    const accession = orders.accession;
    if (!accession) {
      result.problems.push('the PACS never held the imaging order');
      return;
    }
    const restarts = plan.fault === 'orthanc-restarted';
    if (restarts) {
      const entry = join(orthanc.paths.worklists, `${accession}.wl`);
      if (!(await poll(() => Promise.resolve(existsSync(entry) ? true : undefined), 15_000)))
        result.problems.push('no worklist entry before the first restart');
      await orthanc.restart();
    }
    const item = await poll(
      async () =>
        (await modality.queryWorklist().catch(() => [])).find((i) => i.accessionNumber === accession),
      30_000,
      300,
    );
    if (!item) {
      result.problems.push('the worklist never offered the imaging order');
      return;
    }
    await modality.storeStudy(item);
    modality.acquired.add(accession);
    orders.studyInstanceUid = item.studyInstanceUid;
    if (restarts) {
      // Right after the store, before the study is stable (1 s) and so before the PACS's poller saw it.
      const unseen = (await this.imagingOrder(orders.imaging))?.completed === false;
      await orthanc.restart();
      result.injected = unseen;
      if (!unseen) result.notes.push('the PACS completed the order before the second restart');
    }
  }

  /** The patient's laboratory and imaging orders in the EMR, by the trial's MRN. */
  private async ordersOf(mrn: string): Promise<TrialOrders | undefined> {
    const rows = await this.query<{ patient: string; id: string; category: string }>(
      'emr',
      `SELECT p.id AS patient, s.id, s.content->'category'->0->'coding'->0->>'code' AS category
         FROM fhir_resource p JOIN fhir_resource s
           ON s.resource_type = 'ServiceRequest' AND s.content->'subject'->>'reference' = 'Patient/' || p.id
        WHERE p.resource_type = 'Patient' AND p.content->'identifier' @> $1::jsonb`,
      [JSON.stringify([{ value: mrn }])],
    );
    const lab = rows.find((r) => r.category === LAB_CATEGORY);
    const imaging = rows.find((r) => r.category !== LAB_CATEGORY);
    return lab && imaging ? { patientId: lab.patient, lab: lab.id, imaging: imaging.id } : undefined;
  }

  private async labOrderQueued(order: string): Promise<true | undefined> {
    const rows = await this.query<{ n: number }>(
      'lis',
      `SELECT count(*)::int AS n FROM tx_outbox WHERE type = 'lis.lab-order-placed' AND payload->>'serviceRequestId' = $1`,
      [order],
    );
    return rows[0].n > 0 ? true : undefined;
  }

  /** The PACS's imaging order row: its accession number and whether it is completed. */
  private async imagingOrder(order: string): Promise<{ accession: string; completed: boolean } | undefined> {
    const rows = await this.query<{ accession: string; completed: boolean }>(
      'pacs',
      `SELECT accession_number AS accession, completed_at IS NOT NULL AS completed
         FROM pacs_imaging_order WHERE service_request_id = $1`,
      [order],
    );
    return rows[0];
  }

  /** Both results in the EMR, both orders completed there, nothing pending in any outbox. */
  private async settled(orders: TrialOrders): Promise<true | undefined> {
    const [row] = await this.query<{ done: number }>(
      'emr',
      `SELECT count(*)::int AS done FROM fhir_resource
        WHERE resource_type = 'ServiceRequest' AND id = ANY($1) AND content->>'status' = 'completed'`,
      [[orders.lab, orders.imaging]],
    );
    if (row.done < 2) return undefined;
    for (const service of ['emr', 'lis', 'pacs'] as const) {
      const [pending] = await this.query<{ n: number }>(
        service,
        'SELECT count(*)::int AS n FROM tx_outbox WHERE published_at IS NULL',
      );
      if (pending.n > 0) return undefined;
    }
    return true;
  }
}
