import { existsSync } from 'node:fs';
import { appointmentServices, icuServices, serviceEntry } from '../../../scripts/services';
import {
  BEST_EFFORT_FAULT_ORDER,
  BEST_EFFORT_FAULTS,
  BestEffortFaultKind,
  BestEffortFaultLab,
  BestEffortTrialResult,
  planBestEffortTrials,
} from '../../../scripts/lib/faults-best-effort';

/**
 * Best-effort notification under real faults, one short trial of each: the ICU station stopped, the SMTP
 * sink stopped, the monitor and appointments each SIGKILLed at the dispatcher's after-delivery point on
 * their first retry that reached the receiver once it was back, and the run's own Mosquitto stopped with
 * SIGTERM and started again — all while bedside monitors publish vitals over MQTT QoS 1 (patients
 * deteriorating and recovering, so NEWS2 alerts open and close) and appointments are booked and cancelled.
 * After each, once quiet: every alert in the station's ledger and every e-mail in the sink once after
 * de-duplication, nothing there that was not logged, attempts on the back-off schedule, exhausted pushes
 * dead-lettered, every vital the broker acknowledged stored. The same trials as
 * `npm run faults -- best-effort`, receivers down 2 s instead of 20; the services run from dist/ (built by
 * `npm test`) on ports 3651–3653, Mosquitto on 1894, databases `hospital_*_faultspec`.
 */
jest.setTimeout(60_000);

describe('best-effort notification (ICU alerts, appointment confirmations) under real faults', () => {
  let lab: BestEffortFaultLab | undefined;
  const results = new Map<BestEffortFaultKind, BestEffortTrialResult>();
  let final: Awaited<ReturnType<BestEffortFaultLab['finish']>> | undefined;

  beforeAll(async () => {
    const missing = [...icuServices, ...appointmentServices]
      .map((s) => serviceEntry(s.name))
      .filter((entry) => !existsSync(entry));
    if (missing.length > 0) throw new Error(`build first (npm test does): missing ${missing.join(', ')}`);
    lab = await BestEffortFaultLab.open({
      suffix: 'faultspec',
      portBase: 3650,
      mqttPort: 1894,
      downMs: 2_000,
      leadMs: 1_000,
      beds: 3,
    });
    for (const plan of planBestEffortTrials(BEST_EFFORT_FAULT_ORDER.length))
      results.set(plan.fault, await lab.runTrial(plan));
    final = await lab.finish();
    // 80 s here (200 s while others loaded the machine): five trials, most of it services starting again.
  }, 400_000);

  afterAll(async () => {
    await lab?.close();
  }, 60_000);

  it.each(BEST_EFFORT_FAULT_ORDER)('%s: the fault happens, and every invariant holds once quiet', (fault) => {
    const trial = results.get(fault);
    expect(trial).toBeDefined();
    if (!trial) return;
    expect({ injected: trial.injected, problems: trial.problems }).toEqual({ injected: true, problems: [] });
    if (BEST_EFFORT_FAULTS[fault].kill) expect(trial.victimExit).toBe('killed by SIGKILL');
    expect(trial.settleMs).toBeDefined();
    expect(trial.findings).toEqual([]);
    expect(trial.vitalsAcked).toBeGreaterThan(0);
    expect(trial.bookings).toBeGreaterThan(0);
    expect(trial.emails).toBeGreaterThan(0);
  });

  it('really exercised retries, kills and dead letters', () => {
    // The receivers were away: attempts failed and were retried.
    expect(results.get('station-down')?.failedAttempts).toBeGreaterThan(0);
    expect(results.get('smtp-down')?.failedAttempts).toBeGreaterThan(0);
    // A killed dispatcher left its attempt open; the next claim after the lease marked it abandoned.
    expect(results.get('monitor-kill-mid-retry')?.abandonedAttempts).toBeGreaterThan(0);
    expect(results.get('appointments-kill-mid-retry')?.abandonedAttempts).toBeGreaterThan(0);
    // Alerts opened and closed in every trial; pushes to the gateway that never came back gave up.
    for (const trial of results.values()) expect(trial.alerts).toBeGreaterThan(0);
    expect(final?.findings).toEqual([]);
    expect(final?.pushesDeadLettered).toBeGreaterThan(0);
  });

  // The checks above would pass vacuously if they could not see a broken state: plant some and look.
  it('catches a lost alert, an alert never logged and a retry before its back-off', async () => {
    const current = lab;
    if (!current) throw new Error('the lab did not open');
    const [held] = await current.rows<{ key: string }>(
      'icu-station',
      'SELECT idempotency_key AS key FROM icu_station_alert ORDER BY seq LIMIT 1',
    );
    await current.rows('icu-station', 'DELETE FROM icu_station_alert WHERE idempotency_key = $1', [held.key]);
    await current.rows(
      'icu-station',
      `INSERT INTO icu_station_alert (idempotency_key, alert_id, level, flag_level, bed_id, patient_id, assessment_id,
                                      news2_total, effective_at, via)
       VALUES ('planted:opened', 'planted', 'urgent', 'urgent', 'ICU-01', 'pat-x', 'ra-x', 5, now(), 'push')`,
    );
    const [retried] = await current.rows<{ id: string; attempt: number }>(
      'appointments',
      `SELECT notification_id AS id, attempt FROM tx_notification_attempt
        WHERE attempt > 1 ORDER BY notification_id, attempt LIMIT 1`,
    );
    await current.rows(
      'appointments',
      `UPDATE tx_notification_attempt SET started_at = started_at - interval '10 seconds'
        WHERE notification_id = $1 AND attempt = $2`,
      [retried.id, retried.attempt],
    );
    const findings = (await current.evaluate(true)).findings.map((f) => `${f.kind}: ${f.message}`);
    expect(findings).toEqual(
      expect.arrayContaining([
        expect.stringMatching(
          new RegExp(`^lost: alert ${held.key} \\(delivered\\) not in the station's ledger`),
        ),
        'violation: the station holds planted:opened, never logged',
        expect.stringMatching(new RegExp(`^violation: appointments .*: attempt ${retried.attempt} began`)),
      ]),
    );
  });
});
