// The vitals the `icu-ingest` bench sends the ICU monitor: a unit of beds, each owned by one sender (an
// MQTT publisher or one FHIR batch client) so that a bed's vitals arrive in the order they were sent, some
// patients cycling between well and the NEWS2 emergency band so that alerts open and close all the time.
// Every vital carries its send time as `effectiveDateTime` (the alert that follows carries it as its
// "as of" time) and a unique identifier (`<run>:<sender>:<n>`), so what was acknowledged can be found in
// the monitor's database afterwards.
import type { Agent } from 'node:http';
import { connect, type MqttClient } from 'mqtt';
import { bedsideObservation, PARAMETERS, readingsAt, DETERIORATION_ROUNDS } from './bedside-simulator';
import type { BedsideBed } from './bedside-simulator';
import { failureSummary, postFhir } from './bench-http';
import type { Outcome } from './bench-load';

/** How a bed's vitals reach the monitor: bed ids carry it (`ICU-M001`, `ICU-F001`) so SQL can tell them apart. */
export type VitalSource = 'mqtt' | 'fhir';
const SOURCE_LETTER: Record<VitalSource, string> = { mqtt: 'M', fhir: 'F' };

/** The `Device/<bedId>` prefix of a source's beds, for `LIKE` in SQL. */
export const deviceReferencePrefix = (source: VitalSource): string => `Device/ICU-${SOURCE_LETTER[source]}`;

/** One step of the deterioration cycle: well → emergency band in DETERIORATION_ROUNDS steps and back. */
export const CYCLE_STEP_MS = 500;
const CYCLE_STEPS = 2 * DETERIORATION_ROUNDS;

/**
 * `count` beds of one source (`ICU-M001`…, patients `bench-m001`…); every `1 / share`-th patient
 * deteriorates and recovers in cycles.
 */
export function benchBeds(source: VitalSource, count: number, deterioratingShare: number): BedsideBed[] {
  const letter = SOURCE_LETTER[source];
  let deteriorating = 0;
  return Array.from({ length: count }, (_, i) => {
    const n = String(i + 1).padStart(3, '0');
    // Spread the deteriorating patients evenly over the beds.
    const due = Math.floor((i + 1) * deterioratingShare) > deteriorating;
    if (due) deteriorating += 1;
    return { bedId: `ICU-${letter}${n}`, patientId: `bench-${letter.toLowerCase()}${n}`, deteriorating: due };
  });
}

/** A deteriorating patient's readings at `nowMs`: up the path and down again, each bed at its own phase. */
function cyclingReadings(bed: BedsideBed, index: number, startMs: number, nowMs: number) {
  if (!bed.deteriorating) return readingsAt(0, false);
  const step = (Math.floor((nowMs - startMs) / CYCLE_STEP_MS) + index * 7) % CYCLE_STEPS;
  return readingsAt(step <= DETERIORATION_ROUNDS ? step : CYCLE_STEPS - step, true);
}

export interface SentVital {
  bedId: string;
  identifier: string;
  observation: Record<string, unknown>;
}

/**
 * One sender's beds, round-robin: each call gives the next bed's next parameter (a bed's seven parameters
 * one after another), stamped with `at`.
 */
export class BedRotation {
  private next = 0;
  private count = 0;

  constructor(
    private readonly runId: string,
    /** `m0`, `f3`…: which sender, in identifiers. */
    private readonly sender: string,
    private readonly beds: readonly BedsideBed[],
    private readonly startMs: number,
  ) {
    if (beds.length === 0) throw new Error(`sender ${sender} has no beds`);
  }

  vital(at: Date): SentVital {
    const slot = this.next++;
    const bedIndex = Math.floor(slot / PARAMETERS.length) % this.beds.length;
    const parameter = PARAMETERS[slot % PARAMETERS.length];
    const bed = this.beds[bedIndex];
    const value = cyclingReadings(bed, bedIndex, this.startMs, at.getTime())[parameter];
    const identifier = `${this.runId}:${this.sender}:${this.count++}`;
    return {
      bedId: bed.bedId,
      identifier,
      observation: bedsideObservation(bed.bedId, bed.patientId, parameter, value, at, identifier),
    };
  }
}

/** `beds` dealt to `senders` owners in turn (each sender gets at least one bed: fewer senders if need be; none without beds). */
export function dealBeds(beds: readonly BedsideBed[], senders: number): BedsideBed[][] {
  if (beds.length === 0) return [];
  const owners = Math.max(1, Math.min(senders, beds.length));
  const dealt: BedsideBed[][] = Array.from({ length: owners }, () => []);
  beds.forEach((bed, i) => dealt[i % owners].push(bed));
  return dealt;
}

/** The reason a dead letter gives (see the monitor's DeadLetterPublisher). */
function reasonOf(payload: Buffer): string {
  try {
    return (JSON.parse(payload.toString('utf8')) as { reason?: string }).reason ?? 'no reason';
  } catch {
    return 'unreadable dead letter';
  }
}

/** Counts of a sender group, read at the window's edges. */
export interface SendCounts {
  /** Vitals handed to the broker or the monitor. */
  sent: number;
  /** Of those, acknowledged: a PUBACK from the broker, or `201` in the monitor's batch-response. */
  acked: number;
  errors: number;
}

export interface MqttLoadOptions {
  url: string;
  /** The monitor's MQTT_TOPIC_PREFIX. */
  prefix: string;
  runId: string;
  beds: readonly BedsideBed[];
  publishers: number;
  /** Vitals per second over all publishers (open loop). */
  rate: number;
  /**
   * 0: open loop (vitals go out at `rate` whatever the monitor does). Otherwise closed loop: at most this
   * many vitals published and not yet stored by the monitor (`storedNow` tells how many are).
   */
  window: number;
  startMs: number;
  storedNow: () => number;
}

/**
 * Bedside publishers over MQTT, QoS 1: `publishers` connections, each owning its share of the beds, sending
 * at `rate` in total from a token bucket refilled every few milliseconds. Open loop, an allowance not spent
 * (the client fell behind) is spent as soon as it can be; closed loop, the window decides and no debt builds.
 */
export class MqttVitalsLoad {
  readonly acked = new Set<string>();
  private readonly clients: MqttClient[] = [];
  private readonly rotations: BedRotation[];
  private readonly pending = new Set<Promise<void>>();
  private timer?: NodeJS.Timeout;
  private sent = 0;
  private errors = 0;
  private refused = 0;
  readonly errorSamples: string[] = [];

  constructor(private readonly options: MqttLoadOptions) {
    this.rotations = dealBeds(options.beds, options.publishers).map(
      (beds, i) => new BedRotation(options.runId, `m${i}`, beds, options.startMs),
    );
  }

  async connect(): Promise<void> {
    for (let i = 0; i < this.rotations.length; i++) {
      const client = connect(this.options.url, {
        clientId: `bench-bedside-${this.options.runId}-${i}`,
        clean: true,
        reconnectPeriod: 500,
        connectTimeout: 10_000,
      });
      this.clients.push(client);
      await new Promise<void>((resolve, reject) => {
        client.once('connect', () => resolve());
        client.once('error', reject);
      });
    }
    // Vitals the monitor refuses come back on its dead-letter topic with the reason.
    const watcher = this.clients[0];
    watcher.on('message', (topic, payload) => {
      if (topic !== `${this.options.prefix}/dead-letter`) return;
      this.refused += 1;
      if (this.errorSamples.length < 5)
        this.errorSamples.push(`mqtt: refused by the monitor (${reasonOf(payload)})`);
    });
    await watcher.subscribeAsync(`${this.options.prefix}/dead-letter`, { qos: 0 });
  }

  /** Vitals the monitor refused and dead-lettered (every bench vital is valid: must stay 0). */
  get refusedCount(): number {
    return this.refused;
  }

  counts(): SendCounts {
    return { sent: this.sent, acked: this.acked.size, errors: this.errors };
  }

  /** Starts publishing; `stop` ends it. */
  start(): void {
    if (this.options.rate <= 0 || this.rotations.length === 0) return;
    const tickMs = 5;
    const burst = this.options.window > 0 ? Math.max(1, this.options.rate * 0.02) : Infinity;
    let allowance = 0;
    let last = performance.now();
    let turn = 0;
    this.timer = setInterval(() => {
      const now = performance.now();
      allowance = Math.min(burst, allowance + ((now - last) / 1000) * this.options.rate);
      last = now;
      let due = Math.floor(allowance);
      if (this.options.window > 0) {
        const outstanding = this.sent - this.options.storedNow();
        due = Math.min(due, Math.max(0, this.options.window - outstanding));
      }
      allowance -= due;
      const at = new Date();
      for (let i = 0; i < due; i++) {
        const publisher = turn++ % this.rotations.length;
        this.publish(publisher, this.rotations[publisher].vital(at));
      }
    }, tickMs);
  }

  private publish(publisher: number, vital: SentVital): void {
    this.sent += 1;
    const topic = `${this.options.prefix}/beds/${vital.bedId}/vitals`;
    const sending = this.clients[publisher]
      .publishAsync(topic, JSON.stringify(vital.observation), { qos: 1 })
      .then(
        () => void this.acked.add(vital.identifier),
        (error: unknown) => {
          this.errors += 1;
          if (this.errorSamples.length < 5)
            this.errorSamples.push(`mqtt: ${error instanceof Error ? error.message : String(error)}`);
        },
      );
    this.pending.add(sending);
    void sending.finally(() => this.pending.delete(sending));
  }

  /** Stops sending (what was sent may still be acknowledged). */
  halt(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  /** Stops sending and waits (bounded) for the broker's acknowledgements of what was sent. */
  async stop(timeoutMs = 30_000): Promise<void> {
    this.halt();
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      Promise.all([...this.pending]),
      new Promise((resolve) => {
        timer = setTimeout(resolve, timeoutMs);
      }),
    ]);
    clearTimeout(timer);
  }

  async close(): Promise<void> {
    await this.stop(0);
    await Promise.all(this.clients.map((client) => client.endAsync(true).catch(() => undefined)));
  }
}

export interface FhirBatchLoadOptions {
  /** The monitor's base URL (`http://host:port`). */
  base: string;
  runId: string;
  beds: readonly BedsideBed[];
  clients: number;
  /** Vitals per batch Bundle. */
  batch: number;
  startMs: number;
  agent: Agent;
}

interface BatchResponse {
  entry?: { response?: { status?: string; outcome?: { issue?: { diagnostics?: string }[] } } }[];
}

/**
 * FHIR batch clients: client `i` posts Bundles of type `batch` of `batch` vitals of its own beds, all
 * stamped with the Bundle's send time, and counts an entry acknowledged when its batch-response entry is
 * `201`. `operation` is one request, for `runLoad` (closed loop: the next Bundle when the last answered).
 */
export class FhirBatchVitalsLoad {
  readonly acked = new Set<string>();
  readonly errorSamples: string[] = [];
  private readonly rotations: BedRotation[];
  private sent = 0;
  private errors = 0;

  constructor(private readonly options: FhirBatchLoadOptions) {
    this.rotations = dealBeds(options.beds, options.clients).map(
      (beds, i) => new BedRotation(options.runId, `f${i}`, beds, options.startMs),
    );
  }

  /** How many clients can run (at most one per bed). */
  get clients(): number {
    return this.rotations.length;
  }

  counts(): SendCounts {
    return { sent: this.sent, acked: this.acked.size, errors: this.errors };
  }

  async operation(worker: number): Promise<Outcome> {
    const at = new Date();
    const vitals = Array.from({ length: this.options.batch }, () => this.rotations[worker].vital(at));
    const bundle = {
      resourceType: 'Bundle',
      type: 'batch',
      entry: vitals.map((v) => ({
        resource: v.observation,
        request: { method: 'POST', url: 'Observation' },
      })),
    };
    this.sent += vitals.length;
    const result = await postFhir(`${this.options.base}/fhir`, bundle, {
      agent: this.options.agent,
      timeoutMs: 120_000,
    });
    if (result.status !== 200) {
      this.errors += vitals.length;
      return { ok: false, error: `fhir batch: ${failureSummary(result)}` };
    }
    const entries = (JSON.parse(result.body) as BatchResponse).entry ?? [];
    let refused = 0;
    vitals.forEach((vital, i) => {
      const response = entries[i]?.response;
      if (response?.status?.startsWith('201')) this.acked.add(vital.identifier);
      else {
        refused += 1;
        if (this.errorSamples.length < 5)
          this.errorSamples.push(
            `fhir entry: ${response?.status ?? 'no entry'} ${response?.outcome?.issue?.[0]?.diagnostics ?? ''}`.trim(),
          );
      }
    });
    this.errors += refused;
    return refused === 0
      ? { ok: true }
      : { ok: false, error: `${refused} of ${vitals.length} entries refused` };
  }
}
