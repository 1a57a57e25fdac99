/**
 * The National Early Warning Score 2 (Royal College of Physicians, 2017): seven bedside parameters, each
 * scored 0–3 from the published chart, summed into an aggregate that sets the clinical response. Pure
 * functions; the monitor feeds them each patient's latest value of each parameter.
 */

/** ACVPU: Alert, new Confusion, responds to Voice, to Pain, Unresponsive. */
export type Consciousness = 'A' | 'C' | 'V' | 'P' | 'U';

/** SpO2 scale 1 for most patients; scale 2 for those with hypercapnic respiratory failure (target 88–92%). */
export type Spo2Scale = 1 | 2;

/** The latest value of each NEWS2 parameter; a parameter never measured is absent. */
export interface News2Vitals {
  /** Breaths per minute. */
  respirationRate?: number;
  /** Oxygen saturation, %. */
  spo2?: number;
  /** Whether the patient breathes supplemental oxygen (false: room air). */
  onOxygen?: boolean;
  /** Systolic blood pressure, mmHg. */
  systolicBp?: number;
  /** Heart rate, beats per minute. */
  pulse?: number;
  consciousness?: Consciousness;
  /** Body temperature, °C. */
  temperature?: number;
}

export const NEWS2_PARAMETERS = [
  'respirationRate',
  'spo2',
  'onOxygen',
  'systolicBp',
  'pulse',
  'consciousness',
  'temperature',
] as const;
export type News2Parameter = (typeof NEWS2_PARAMETERS)[number];

/** The clinical risk bands of the chart and the response each calls for. */
export type News2Risk = 'low' | 'low-medium' | 'medium' | 'high';

export interface News2Score {
  /** Sum of the parameters scored. */
  total: number;
  /** Each measured parameter's score (0–3). */
  parameters: Partial<Record<News2Parameter, number>>;
  /** All seven parameters present: only then is the aggregate a full NEWS2. */
  complete: boolean;
  /** low: 0–4 with no single 3; low-medium: a single parameter scoring 3; medium: 5–6; high: 7 or more. */
  risk: News2Risk;
  /** Escalate to the monitoring station: aggregate ≥ 5 or any parameter scoring 3. */
  escalate: boolean;
  /** Emergency response: aggregate ≥ 7. */
  emergency: boolean;
}

/**
 * `bands` are [upper bound inclusive, score] in ascending order; above the last bound scores `top`. The
 * chart's bands are whole numbers (one decimal for temperature): a value is rounded to the chart's
 * precision first, so 8.4 breaths a minute scores as 8 and 8.6 as 9.
 */
function banded(
  value: number,
  bands: readonly (readonly [number, number])[],
  top: number,
  decimals = 0,
): number {
  const scale = 10 ** decimals;
  const charted = Math.round(value * scale) / scale;
  for (const [upTo, score] of bands) if (charted <= upTo) return score;
  return top;
}

export function respirationRateScore(breathsPerMinute: number): number {
  return banded(
    breathsPerMinute,
    [
      [8, 3],
      [11, 1],
      [20, 0],
      [24, 2],
    ],
    3,
  );
}

/** Scale 1: ≤91 → 3, 92–93 → 2, 94–95 → 1, ≥96 → 0. */
export function spo2Scale1Score(percent: number): number {
  return banded(
    percent,
    [
      [91, 3],
      [93, 2],
      [95, 1],
    ],
    0,
  );
}

/**
 * Scale 2: ≤83 → 3, 84–85 → 2, 86–87 → 1, 88–92 → 0, and 93 or more scores 0 on room air; on oxygen,
 * 93–94 → 1, 95–96 → 2, ≥97 → 3 (over-oxygenation of a patient who retains CO2).
 */
export function spo2Scale2Score(percent: number, onOxygen: boolean): number {
  if (Math.round(percent) <= 92 || !onOxygen) {
    return banded(
      percent,
      [
        [83, 3],
        [85, 2],
        [87, 1],
      ],
      0,
    );
  }
  return banded(
    percent,
    [
      [94, 1],
      [96, 2],
    ],
    3,
  );
}

export function airOrOxygenScore(onOxygen: boolean): number {
  return onOxygen ? 2 : 0;
}

export function systolicBpScore(mmHg: number): number {
  return banded(
    mmHg,
    [
      [90, 3],
      [100, 2],
      [110, 1],
      [219, 0],
    ],
    3,
  );
}

export function pulseScore(beatsPerMinute: number): number {
  return banded(
    beatsPerMinute,
    [
      [40, 3],
      [50, 1],
      [90, 0],
      [110, 1],
      [130, 2],
    ],
    3,
  );
}

/** Alert scores 0; new confusion, voice, pain or unresponsive each score 3. */
export function consciousnessScore(level: Consciousness): number {
  return level === 'A' ? 0 : 3;
}

/** ≤35.0 → 3, 35.1–36.0 → 1, 36.1–38.0 → 0, 38.1–39.0 → 1, ≥39.1 → 2 (the chart's one-decimal bands). */
export function temperatureScore(celsius: number): number {
  return banded(
    celsius,
    [
      [35.0, 3],
      [36.0, 1],
      [38.0, 0],
      [39.0, 1],
    ],
    2,
    1,
  );
}

/** Scores what is present of `vitals` on the SpO2 scale the patient is on. */
export function news2(vitals: News2Vitals, scale: Spo2Scale = 1): News2Score {
  const parameters: Partial<Record<News2Parameter, number>> = {};
  if (vitals.respirationRate !== undefined)
    parameters.respirationRate = respirationRateScore(vitals.respirationRate);
  if (vitals.spo2 !== undefined) {
    parameters.spo2 =
      scale === 2 ? spo2Scale2Score(vitals.spo2, vitals.onOxygen ?? false) : spo2Scale1Score(vitals.spo2);
  }
  if (vitals.onOxygen !== undefined) parameters.onOxygen = airOrOxygenScore(vitals.onOxygen);
  if (vitals.systolicBp !== undefined) parameters.systolicBp = systolicBpScore(vitals.systolicBp);
  if (vitals.pulse !== undefined) parameters.pulse = pulseScore(vitals.pulse);
  if (vitals.consciousness !== undefined) parameters.consciousness = consciousnessScore(vitals.consciousness);
  if (vitals.temperature !== undefined) parameters.temperature = temperatureScore(vitals.temperature);

  const scores = Object.values(parameters);
  const total = scores.reduce((sum, score) => sum + score, 0);
  const red = scores.some((score) => score === 3);
  const risk: News2Risk = total >= 7 ? 'high' : total >= 5 ? 'medium' : red ? 'low-medium' : 'low';
  return {
    total,
    parameters,
    complete: NEWS2_PARAMETERS.every((parameter) => vitals[parameter] !== undefined),
    risk,
    escalate: total >= 5 || red,
    emergency: total >= 7,
  };
}
