// Bedside monitors for the ICU: N beds publishing each vital sign as a FHIR Observation over MQTT QoS 1 to
// `<prefix>/beds/<bedId>/vitals` (the ICU monitor's feed, apps/icu-monitor/src/feed/). Some patients
// deteriorate along a scripted path whose NEWS2 climbs from 0 to the emergency band. Used by
// `scripts/bedside.ts`, the feed's integration spec, the demo and the bench.
import { connect, type MqttClient } from 'mqtt';

const LOINC = 'http://loinc.org';
const UCUM = 'http://unitsofmeasure.org';
const ACVPU = 'urn:hospital:icu:acvpu';
/** The identifier system of each simulated reading: `<run>:<bed>:<round>:<parameter>`, unique per run. */
export const READING_SYSTEM = 'urn:hospital:icu:bedside-reading';

export type Parameter =
  'pulse' | 'respirationRate' | 'spo2' | 'temperature' | 'systolicBp' | 'onOxygen' | 'consciousness';
export const PARAMETERS: readonly Parameter[] = [
  'pulse',
  'respirationRate',
  'spo2',
  'temperature',
  'systolicBp',
  'onOxygen',
  'consciousness',
];
const CODES: Record<Exclude<Parameter, 'consciousness'>, readonly [string, string]> = {
  pulse: ['8867-4', '/min'],
  respirationRate: ['9279-1', '/min'],
  spo2: ['59408-5', '%'],
  temperature: ['8310-5', 'Cel'],
  systolicBp: ['8480-6', 'mm[Hg]'],
  onOxygen: ['3151-8', 'L/min'],
};

/** Rounds a deteriorating patient takes from well (NEWS2 0) to the worst reading (NEWS2 ≥ 7). */
export const DETERIORATION_ROUNDS = 10;

/** A patient's readings at `round`: steady if well, else along the path (SpO2 on scale 1). */
export function readingsAt(round: number, deteriorating: boolean): Record<Parameter, number | string> {
  const p = deteriorating ? Math.min(1, round / DETERIORATION_ROUNDS) : 0;
  const along = (well: number, worst: number, digits = 0) =>
    Number((well + (worst - well) * p).toFixed(digits));
  return {
    pulse: along(72, 135), // 3 at ≥ 131
    respirationRate: along(14, 26), // 3 at ≥ 25
    spo2: along(97, 90), // 3 at ≤ 91
    temperature: along(37, 39.3, 1), // 2 at ≥ 39.1
    systolicBp: along(125, 95), // 2 at 91–100
    onOxygen: p >= 0.5 ? 2 : 0, // 2 on oxygen
    consciousness: p >= 1 ? 'C' : 'A', // 3 for new confusion
  };
}

/** One vital as the monitor takes it (see apps/icu-monitor/README.md). */
export function bedsideObservation(
  bedId: string,
  patientId: string,
  parameter: Parameter,
  value: number | string,
  at: Date,
  identifier?: string,
): Record<string, unknown> {
  const observation: Record<string, unknown> = {
    resourceType: 'Observation',
    status: 'final',
    category: [
      {
        coding: [
          { system: 'http://terminology.hl7.org/CodeSystem/observation-category', code: 'vital-signs' },
        ],
      },
    ],
    code: {
      coding: [{ system: LOINC, code: parameter === 'consciousness' ? '67775-7' : CODES[parameter][0] }],
    },
    subject: { reference: `Patient/${patientId}` },
    device: { reference: `Device/${bedId}` },
    effectiveDateTime: at.toISOString(),
  };
  if (identifier !== undefined) observation.identifier = [{ system: READING_SYSTEM, value: identifier }];
  if (parameter === 'consciousness') {
    observation.valueCodeableConcept = { coding: [{ system: ACVPU, code: String(value) }] };
  } else {
    const unit = CODES[parameter][1];
    observation.valueQuantity = { value: Number(value), unit, system: UCUM, code: unit };
  }
  return observation;
}

export interface BedsideBed {
  bedId: string;
  patientId: string;
  deteriorating: boolean;
}

export interface BedsideOptions {
  url: string;
  /** The feed's first topic level (the monitor's MQTT_TOPIC_PREFIX). */
  prefix: string;
  beds: readonly BedsideBed[];
  /** Prefix of each reading's identifier, so runs can be told apart. */
  runId: string;
  /**
   * The effective time of round 0; round r is `startAt + r × roundMs`, never later than now (readings of a
   * burst are spread over the past instead of bunching up or running ahead of the monitor's clock).
   */
  startAt?: number;
  roundMs?: number;
}

/** `count` beds ICU-01… with patients `<patientPrefix>-01…`; the first `deteriorating` of them get worse. */
export function unitBeds(count: number, deteriorating: number, patientPrefix = 'pat-bed'): BedsideBed[] {
  return Array.from({ length: count }, (_, i) => {
    const n = String(i + 1).padStart(2, '0');
    return { bedId: `ICU-${n}`, patientId: `${patientPrefix}-${n}`, deteriorating: i < deteriorating };
  });
}

/** The bedside monitors: one MQTT connection publishing every bed's vitals, round by round, QoS 1. */
export class BedsideSimulator {
  private client?: MqttClient;
  private stopped = false;
  /** Vitals the broker has acknowledged. */
  published = 0;

  constructor(private readonly options: BedsideOptions) {}

  async connect(): Promise<void> {
    this.client = connect(this.options.url, {
      clientId: `bedside-${this.options.runId}`,
      reconnectPeriod: 500,
    });
    await new Promise<void>((resolve, reject) => {
      this.client?.once('connect', () => resolve());
      this.client?.once('error', reject);
    });
    // Once connected, mqtt.js reconnects by itself (and sends the unacknowledged QoS 1 publishes again): a
    // broker that goes away resets the connection, an 'error' that must not end the process.
    this.client.on('error', () => undefined);
  }

  /** Publishes every bed's seven vitals of `round`; resolves when the broker has acknowledged them all. */
  async publishRound(round: number): Promise<number> {
    const { startAt = Date.now(), roundMs = 1_000 } = this.options;
    const at = new Date(Math.min(Date.now(), startAt + round * roundMs));
    const sends: Promise<unknown>[] = [];
    for (const bed of this.options.beds) {
      const readings = readingsAt(round, bed.deteriorating);
      for (const parameter of PARAMETERS) {
        const id = `${this.options.runId}:${bed.bedId}:${round}:${parameter}`;
        const observation = bedsideObservation(
          bed.bedId,
          bed.patientId,
          parameter,
          readings[parameter],
          at,
          id,
        );
        sends.push(this.publish(bed.bedId, observation));
      }
    }
    await Promise.all(sends);
    return sends.length;
  }

  /** Publishes rounds `from`… every `intervalMs` until `rounds` are done (0: until `stop`). */
  async run(rounds: number, intervalMs: number, from = 0): Promise<void> {
    for (let round = from; !this.stopped && (rounds === 0 || round < from + rounds); round++) {
      const started = Date.now();
      await this.publishRound(round);
      const wait = intervalMs - (Date.now() - started);
      if (wait > 0 && !this.stopped) await new Promise((resolve) => setTimeout(resolve, wait));
    }
  }

  /** Publishes one message as is to `<prefix>/beds/<bedId>/vitals` (QoS 1). */
  async publish(bedId: string, message: unknown): Promise<void> {
    if (this.client === undefined) throw new Error('BedsideSimulator: connect() first');
    const payload = typeof message === 'string' ? message : JSON.stringify(message);
    await this.client.publishAsync(`${this.options.prefix}/beds/${bedId}/vitals`, payload, { qos: 1 });
    this.published++;
  }

  stop(): void {
    this.stopped = true;
  }

  async close(): Promise<void> {
    this.stop();
    await this.client?.endAsync();
  }
}
