// Fault trials of best-effort notification: the ICU monitor's NEWS2 alerts to the central station (HTTP)
// and appointments' confirmations by e-mail (SMTP) and push. One trial runs a load — bedside monitors
// publishing vitals over MQTT QoS 1 to the run's own Mosquitto, patients deteriorating and recovering so
// alerts open and close, appointments booked and cancelled — while one real fault is injected: the station
// or the SMTP sink down for the down time, a sender SIGKILLed at the dispatcher's after-delivery point on
// its first retry that reaches the receiver once back, or Mosquitto stopped and started again. Then it
// restores, waits until quiet and checks the invariants (faults-best-effort-invariants.ts) in the
// receivers' ledgers and the databases. Used by `npm run faults -- best-effort` and
// apps/icu-monitor/test/best-effort.fault-spec.ts.
import { connect, type MqttClient } from 'mqtt';
import { BedsideSimulator, unitBeds } from './bedside-simulator';
import { BestEffortCluster } from './faults-best-effort-cluster';
import {
  ATTEMPTS_SQL,
  AttemptRow,
  evaluateLedgers,
  LedgerEvaluation,
  NOTIFICATIONS_SQL,
  NotificationRow,
  STATION_SQL,
  StationRow,
  vitalFindings,
} from './faults-best-effort-invariants';
import { ConfirmedChange, driveBookings, openSchedule, VitalsLoad } from './faults-best-effort-load';
import {
  BEST_EFFORT_FAULTS,
  BEST_EFFORT_ROLES,
  BestEffortFaultLabOptions,
  BestEffortRole,
  BestEffortTrialPlan,
  BestEffortTrialResult,
  Finding,
  KILL_POINT,
} from './faults-best-effort-plan';
import { sleep } from './faults-outbox-load';
import { describeExit, ExitInfo } from './service-process';
import { freshTrialRecord, phaseClock, tallyFindings } from './faults-report';
import { devAuthorization } from '../services';

export * from './faults-best-effort-plan';

/** The fault-injection set-up: own broker, fresh databases, the three services, the two receivers. */
export class BestEffortFaultLab {
  private readonly results: BestEffortTrialResult[] = [];
  private readonly reported = new Map<string, Finding>();
  private readonly changes: ConfirmedChange[] = [];
  private readonly refusedVitals: string[] = [];
  private readonly runId = Date.now().toString(36);
  private readonly log: (line: string) => void;
  readonly cluster: BestEffortCluster;
  private simulator?: BedsideSimulator;
  private watcher?: MqttClient;
  private closing = false;
  private absorbedSoFar = 0;

  private constructor(private readonly options: BestEffortFaultLabOptions) {
    this.log = options.log ?? (() => undefined);
    this.cluster = new BestEffortCluster(options);
  }

  private readonly beds = (): ReturnType<typeof unitBeds> =>
    unitBeds(this.options.beds ?? 4, this.options.beds ?? 4, `pat-${this.options.suffix}`);

  /** Starts the broker, re-creates the databases, starts the receivers and the services, admits the beds. */
  static async open(options: BestEffortFaultLabOptions): Promise<BestEffortFaultLab> {
    const lab = new BestEffortFaultLab(options);
    try {
      await lab.cluster.open();
      for (const bed of lab.beds()) {
        const response = await fetch(`${lab.cluster.url('icu-monitor')}/api/beds/${bed.bedId}/admission`, {
          method: 'PUT',
          headers: { 'content-type': 'application/json', authorization: devAuthorization('clinician') },
          body: JSON.stringify({ patientId: bed.patientId, spo2Scale: 1 }),
        }).catch((error: unknown) => {
          throw new Error(`admitting ${bed.bedId}: the ICU monitor did not answer (${String(error)})`);
        });
        if (response.status !== 200) throw new Error(`admitting ${bed.bedId} answered ${response.status}`);
      }
      lab.simulator = new BedsideSimulator({
        url: lab.cluster.broker.url,
        prefix: lab.cluster.prefix,
        beds: lab.beds(),
        runId: lab.runId,
      });
      await lab.simulator.connect();
      lab.watcher = connect(lab.cluster.broker.url, {
        clientId: `faults-watch-${lab.runId}`,
        reconnectPeriod: 500,
      });
      lab.watcher.on('error', () => undefined); // mqtt.js reconnects after the broker's restart
      lab.watcher.on('message', (topic, payload) => {
        let reason = 'unreadable dead letter';
        try {
          reason = (JSON.parse(payload.toString('utf8')) as { reason?: string }).reason ?? '?';
        } catch {
          // Counted all the same.
        }
        lab.refusedVitals.push(`${topic}: ${reason}`);
      });
      lab.watcher.on(
        'connect',
        () => void lab.watcher?.subscribeAsync(`${lab.cluster.prefix}/dead-letter`, { qos: 1 }),
      );
      lab.log(
        `up: broker ${lab.cluster.broker.url}, ${BEST_EFFORT_ROLES.map((r) => `${r} ${lab.cluster.url(r)}`).join(', ')}, SMTP sink ${lab.cluster.sink.url}, push gateway (down for good) ${lab.cluster.push.url}`,
      );
    } catch (error) {
      await lab.close();
      throw error;
    }
    return lab;
  }

  /** Rows of a query in one of the run's databases. */
  rows<T extends object>(role: BestEffortRole, sql: string, parameters: unknown[] = []): Promise<T[]> {
    return this.cluster.rows<T>(role, sql, parameters);
  }

  get trials(): readonly BestEffortTrialResult[] {
    return this.results;
  }

  /** Notifications per channel and attempts per outcome in both senders' logs. */
  private async counts(): Promise<Map<string, number>> {
    const counts = new Map<string, number>();
    for (const role of ['icu-monitor', 'appointments'] as const) {
      for (const row of await this.rows<{ k: string; n: number }>(
        role,
        `SELECT 'channel:' || channel AS k, count(*)::int AS n FROM tx_notification GROUP BY 1
         UNION ALL SELECT 'outcome:' || outcome, count(*)::int FROM tx_notification_attempt
          WHERE outcome IS NOT NULL GROUP BY outcome
         UNION ALL SELECT 'state:' || state || ':' || channel, count(*)::int FROM tx_notification GROUP BY 1`,
      ))
        counts.set(row.k, (counts.get(row.k) ?? 0) + row.n);
    }
    return counts;
  }

  async runTrial(plan: BestEffortTrialPlan): Promise<BestEffortTrialResult> {
    const began = Date.now();
    const definition = BEST_EFFORT_FAULTS[plan.fault];
    const { downMs } = this.options;
    const leadMs = this.options.leadMs ?? 2_000;
    const result: BestEffortTrialResult = {
      ...plan,
      victim: definition.kill,
      injected: false,
      externalStops: 0,
      vitalsAcked: 0,
      bookings: 0,
      cancellations: 0,
      failedRequests: 0,
      alerts: 0,
      emails: 0,
      pushes: 0,
      duplicatesAbsorbed: 0,
      vitalsStoredTwice: 0,
      abandonedAttempts: 0,
      failedAttempts: 0,
      deadLettered: 0,
      ...freshTrialRecord(),
    };
    this.results.push(result);
    const phase = phaseClock(result.phases);
    const crashes = await this.cluster.ensureUp();
    const before = await this.counts();
    const tag = `${this.runId}-${plan.index}`;
    const day = new Date(Date.UTC(2027, 0, 1) + plan.index * 86_400_000).toISOString().slice(0, 10);
    const practitionerId = `prac-${this.options.suffix}-${plan.index % 3}`;
    const slots = await openSchedule(this.cluster.url('appointments'), practitionerId, day);
    phase('arm');

    let stopLoad = false;
    const vitals = new VitalsLoad(this.simulator!, this.beds());
    const vitalsRun = vitals.run(tag, this.options.roundMs ?? 500, () => stopLoad);
    const bookingsRun = driveBookings(this.cluster.url('appointments'), slots, {
      practitionerId,
      patientPrefix: `pat-${tag}`,
      perSecond: this.options.bookingsPerSecond ?? 2,
      done: () => stopLoad,
    });
    await sleep(leadMs);

    let victimExit: ExitInfo | undefined;
    let restarted: Promise<unknown> | undefined;
    let injectedAt = Date.now();
    if (definition.kill) {
      // Stopped while its receiver is still up (a graceful stop goes on delivering, and retrying, for a
      // while), then armed with the receiver down: its first deliveries are retries.
      const role = definition.kill;
      this.cluster.down.add(role);
      await this.cluster.stop(role);
      if (definition.down) await this.cluster.takeDown(definition.down);
      const victim = await this.cluster.start(role, { FAULT_KILL_AT: KILL_POINT });
      result.notes.push(
        `${role} armed at ${KILL_POINT} in ${((Date.now() - injectedAt) / 1000).toFixed(1)} s`,
      );
      // The down time counts from here: the victim's retries see the receiver away for that long.
      injectedAt = Date.now();
      void victim.exited.then((exit) => {
        if (this.closing || !this.cluster.forget(role, victim)) return;
        victimExit = exit;
        restarted = this.cluster.start(role).then(
          () => this.cluster.down.delete(role),
          (error: unknown) =>
            result.problems.push(`${role} did not come back after its kill: ${String(error)}`),
        );
      });
    } else if (definition.down) await this.cluster.takeDown(definition.down);
    if (plan.fault === 'broker-restart') {
      await this.cluster.broker.stop();
      await sleep(Math.min(downMs, 2_000));
      await this.cluster.broker.start();
      result.injected = true;
      result.notes.push(`Mosquitto down for ${((Date.now() - injectedAt) / 1000).toFixed(1)} s`);
    }
    if (definition.down) {
      await sleep(Math.max(0, injectedAt + downMs - Date.now()));
      await this.cluster.bringUp(definition.down);
      result.injected = true;
      result.notes.push(
        `${definition.down} down for ${((Date.now() - injectedAt) / 1000).toFixed(1)} s${definition.kill ? ' after the victim was armed' : ''}`,
      );
    }
    if (definition.kill) {
      const role = definition.kill;
      const deadline = Date.now() + this.cluster.policies.appointments.leaseMs + 20_000;
      while (victimExit === undefined && Date.now() < deadline) await sleep(100);
      if (victimExit === undefined) {
        result.injected = false;
        await this.cluster.stop(role);
        await this.cluster.start(role);
        this.cluster.down.delete(role);
        result.problems.push(`${role} never reached ${KILL_POINT}: nothing injected`);
      } else {
        result.victimExit = describeExit(victimExit);
        result.injected = result.injected && victimExit.signal === 'SIGKILL';
        if (victimExit.signal !== 'SIGKILL') result.problems.push(`${role} exited with ${result.victimExit}`);
        const [open] = await this.rows<{ n: number; top: number | null }>(
          role,
          'SELECT count(*)::int AS n, max(attempt)::int AS top FROM tx_notification_attempt WHERE outcome IS NULL',
        );
        result.notes.push(
          `${role} killed with ${open.n} attempt(s) open, the latest attempt #${open.top ?? '-'}`,
        );
        await restarted;
      }
    }
    phase('fault');
    await sleep(leadMs);
    stopLoad = true;
    const [, booked] = await Promise.all([vitalsRun, bookingsRun]);
    phase('load');
    result.bookings = booked.bookings;
    result.cancellations = booked.cancellations;
    result.failedRequests = booked.failed;
    this.changes.push(...booked.changes);
    if (booked.failed > 0)
      result.notes.push(
        `booking requests not answered 201/200: ${[...booked.statuses]
          .filter(([s]) => s !== '201' && s !== '200')
          .map(([s, n]) => `${n}× ${s}`)
          .join(', ')}`,
      );

    const loadEnd = Date.now();
    const settle = await this.awaitQuiet(tag, vitals, this.options.settleTimeoutMs ?? 120_000);
    if (settle.quiet) result.settleMs = Date.now() - loadEnd;
    else
      result.problems.push(
        `not quiet ${Math.round((Date.now() - loadEnd) / 1000)} s after the load: ${settle.reason}`,
      );
    phase('settle');

    result.vitalsAcked = vitals.acked.size;
    const stored = await this.storedVitals(tag);
    const vitalCheck = vitalFindings(vitals.acked, stored);
    result.vitalsStoredTwice = vitalCheck.storedTwice;
    const evaluation = await this.evaluate(false);
    result.duplicatesAbsorbed = evaluation.duplicatesAbsorbed - this.absorbedSoFar;
    this.absorbedSoFar = evaluation.duplicatesAbsorbed;
    const after = await this.counts();
    const delta = (k: string): number => (after.get(k) ?? 0) - (before.get(k) ?? 0);
    result.alerts = delta('channel:station-http');
    result.emails = delta('channel:email');
    result.pushes = delta('channel:push');
    result.abandonedAttempts = delta('outcome:abandoned');
    result.failedAttempts = delta('outcome:failed') + delta('outcome:timeout');
    result.deadLettered = delta('state:dead-lettered:push');

    const outside = this.cluster.takeExternalStops();
    result.externalStops = outside.length;
    result.notes.push(...outside);
    const fresh = [...evaluation.findings, ...vitalCheck.findings].filter((f) => !this.reported.has(f.key));
    const refused = this.refusedVitals.splice(0);
    if (refused.length > 0)
      result.problems.push(
        `${refused.length} vital(s) refused by the monitor: ${refused.slice(0, 3).join('; ')}`,
      );
    if (vitals.errors.length > 0)
      result.problems.push(`publishes failed: ${vitals.errors.slice(0, 3).join('; ')}`);
    tallyFindings(result, fresh, [...crashes, ...settle.crashes, ...result.problems], this.reported);
    phase('check');
    result.seconds = (Date.now() - began) / 1000;
    return result;
  }

  /** Identifiers of the trial's vitals in the monitor's store, and how many Observations hold each. */
  private async storedVitals(tag: string): Promise<Map<string, number>> {
    const rows = await this.rows<{ id: string; n: number }>(
      'icu-monitor',
      `SELECT content #>> '{identifier,0,value}' AS id, count(*)::int AS n FROM fhir_resource
        WHERE resource_type = 'Observation' AND content #>> '{identifier,0,value}' LIKE $1 GROUP BY 1`,
      [`${tag}:%`],
    );
    return new Map(rows.map((r) => [r.id, r.n]));
  }

  /**
   * Waits until every vital is acknowledged and stored, no alert or e-mail is pending and no attempt is
   * open — twice in a row. Services that die meanwhile are restarted (and reported).
   */
  private async awaitQuiet(
    tag: string,
    vitals: VitalsLoad,
    timeoutMs: number,
  ): Promise<{ quiet: boolean; reason: string; crashes: string[] }> {
    const deadline = Date.now() + timeoutMs;
    const crashes: string[] = [];
    let streak = 0;
    let reason = '';
    while (Date.now() < deadline) {
      crashes.push(...(await this.cluster.ensureUp()));
      reason = await this.unquietReason(tag, vitals).catch(
        (error: unknown) => `cannot observe: ${String(error)}`,
      );
      streak = reason === '' ? streak + 1 : 0;
      if (streak >= 2) return { quiet: true, reason, crashes };
      await sleep(500);
    }
    return { quiet: false, reason, crashes };
  }

  private async unquietReason(tag: string, vitals: VitalsLoad): Promise<string> {
    if (vitals.pending > 0) return `${vitals.pending} vital(s) not acknowledged by the broker`;
    const [stored] = await this.rows<{ n: number }>(
      'icu-monitor',
      `SELECT count(DISTINCT content #>> '{identifier,0,value}')::int AS n FROM fhir_resource
        WHERE resource_type = 'Observation' AND content #>> '{identifier,0,value}' LIKE $1`,
      [`${tag}:%`],
    );
    if (stored.n < vitals.acked.size) return `${vitals.acked.size - stored.n} vital(s) not stored yet`;
    for (const role of ['icu-monitor', 'appointments'] as const) {
      const [row] = await this.rows<{ pending: number; open: number }>(
        role,
        `SELECT (SELECT count(*)::int FROM tx_notification WHERE state = 'pending' AND channel <> 'push') AS pending,
                (SELECT count(*)::int FROM tx_notification_attempt a JOIN tx_notification n ON n.id = a.notification_id
                  WHERE a.outcome IS NULL AND n.channel <> 'push') AS open`,
      );
      if (row.pending > 0 || row.open > 0)
        return `${role}: ${row.pending} pending, ${row.open} attempt(s) open`;
    }
    return '';
  }

  /**
   * Checks every invariant on the ledgers and logs as they stand. `final`: pushes (to the gateway that
   * never comes back) must all be dead-lettered by now too.
   */
  async evaluate(final: boolean): Promise<LedgerEvaluation> {
    // One consistent snapshot per database: the push dispatcher is still attempting meanwhile.
    const [monitorNotifications, monitorAttempts, flags] = await this.cluster.snapshot('icu-monitor', [
      NOTIFICATIONS_SQL,
      ATTEMPTS_SQL,
      `SELECT id, content ->> 'status' AS status FROM fhir_resource WHERE resource_type = 'Flag'`,
    ]);
    const [appointmentNotifications, appointmentAttempts] = await this.cluster.snapshot('appointments', [
      NOTIFICATIONS_SQL,
      ATTEMPTS_SQL,
    ]);
    const station = await this.rows<StationRow>('icu-station', STATION_SQL);
    return evaluateLedgers({
      monitor: {
        notifications: monitorNotifications as NotificationRow[],
        attempts: monitorAttempts as AttemptRow[],
        policy: this.cluster.policies['icu-monitor'],
      },
      appointments: {
        notifications: appointmentNotifications as NotificationRow[],
        attempts: appointmentAttempts as AttemptRow[],
        policy: this.cluster.policies.appointments,
      },
      station,
      mail: this.cluster.sink.received,
      pushes: this.cluster.push.received.map((r) => r.key),
      flags: flags as { id: string; status: string }[],
      changes: this.changes,
      settledChannels: new Set(final ? ['station-http', 'email', 'push'] : ['station-http', 'email']),
    });
  }

  /**
   * After the last trial: waits until every push has been dead-lettered, checks everything once more, and
   * that the dead letters are listed at `GET /api/notifications/dead-letters` (oldest first, at most 1000:
   * the endpoint has no further pages). Returns the findings not reported by a trial.
   */
  async finish(): Promise<{ findings: Finding[]; pushesDeadLettered: number }> {
    const { maxAttempts, backoff, attemptTimeoutMs } = this.cluster.policies.appointments;
    const deadline = Date.now() + maxAttempts * (backoff.maxDelayMs + attemptTimeoutMs) + 30_000;
    let pending = Infinity;
    while (Date.now() < deadline) {
      await this.cluster.ensureUp();
      [{ n: pending }] = await this.rows<{ n: number }>(
        'appointments',
        `SELECT count(*)::int AS n FROM tx_notification WHERE state = 'pending'`,
      );
      if (pending === 0) break;
      await sleep(1_000);
    }
    const findings = (await this.evaluate(true)).findings.filter((f) => !this.reported.has(f.key));
    const dead = await this.rows<{ id: string }>(
      'appointments',
      `SELECT id FROM tx_notification WHERE state = 'dead-lettered' AND channel = 'push'
        ORDER BY dead_lettered_at, position LIMIT 1000`,
    );
    const response = await fetch(
      `${this.cluster.url('appointments')}/api/notifications/dead-letters?channel=push&limit=1000`,
      { headers: { authorization: devAuthorization('administrator') } },
    ).catch((error: unknown) => {
      throw new Error(`listing the dead letters: appointments did not answer (${String(error)})`);
    });
    const listed = new Set(((await response.json()) as { id: string }[]).map((d) => d.id));
    const unlisted = dead.filter((d) => !listed.has(d.id));
    if (unlisted.length > 0)
      findings.push({
        key: 'dead-letters:unlisted',
        kind: 'violation',
        message: `${unlisted.length} dead-lettered push(es) not listed at /api/notifications/dead-letters`,
      });
    const [{ n }] = await this.rows<{ n: number }>(
      'appointments',
      `SELECT count(*)::int AS n FROM tx_notification WHERE state = 'dead-lettered' AND channel = 'push'`,
    );
    for (const finding of findings) this.reported.set(finding.key, finding);
    return { findings, pushesDeadLettered: n };
  }

  async close(): Promise<void> {
    this.closing = true;
    await this.simulator?.close().catch(() => undefined);
    await this.watcher?.endAsync().catch(() => undefined);
    await this.cluster.close();
  }
}
