// The results the `hl7` bench sends: one ORU^R01 v2.5.1 per laboratory order, for one of four common
// panels of 3 to 8 analytes (LOINC codes, UCUM units), with values drawn around the reference range so
// that some come back flagged high or low. The MSH, PID and OBR segments are the analyzer simulator's;
// the OBX segments are the panel's. Synthetic values only.
import { formatHl7DateTime, Hl7Message, Hl7Segment } from '@medplum/core';
import { buildOruR01 } from './analyzer-simulator';

/** One analyte a panel reports: LOINC code and name, UCUM unit, reference range. */
export interface BenchAnalyte {
  loinc: string;
  name: string;
  unit: string;
  low: number;
  high: number;
}

/** A laboratory panel the bench orders (LOINC panel code) and what its result reports. */
export interface BenchPanel {
  code: string;
  name: string;
  analytes: readonly BenchAnalyte[];
}

/** Coagulation (3), lipid (4), complete blood count (6), basic metabolic panel (8). */
export const BENCH_PANELS: readonly BenchPanel[] = [
  {
    code: '34528-0',
    name: 'PT and aPTT panel - Platelet poor plasma',
    analytes: [
      { loinc: '5902-2', name: 'Prothrombin time', unit: 's', low: 11, high: 13.5 },
      { loinc: '6301-6', name: 'INR', unit: '{INR}', low: 0.8, high: 1.1 },
      { loinc: '14979-9', name: 'aPTT', unit: 's', low: 25, high: 35 },
    ],
  },
  {
    code: '57698-3',
    name: 'Lipid panel with direct LDL - Serum or Plasma',
    analytes: [
      { loinc: '2093-3', name: 'Cholesterol', unit: 'mg/dL', low: 125, high: 200 },
      { loinc: '2571-8', name: 'Triglyceride', unit: 'mg/dL', low: 40, high: 150 },
      { loinc: '2085-9', name: 'HDL Cholesterol', unit: 'mg/dL', low: 40, high: 90 },
      { loinc: '18262-6', name: 'LDL Cholesterol (direct)', unit: 'mg/dL', low: 50, high: 130 },
    ],
  },
  {
    code: '58410-2',
    name: 'CBC panel - Blood by Automated count',
    analytes: [
      { loinc: '6690-2', name: 'Leukocytes', unit: '10*3/uL', low: 4, high: 11 },
      { loinc: '789-8', name: 'Erythrocytes', unit: '10*6/uL', low: 4.2, high: 5.9 },
      { loinc: '718-7', name: 'Hemoglobin', unit: 'g/dL', low: 12, high: 17.5 },
      { loinc: '4544-3', name: 'Hematocrit', unit: '%', low: 36, high: 52 },
      { loinc: '787-2', name: 'MCV', unit: 'fL', low: 80, high: 100 },
      { loinc: '777-3', name: 'Platelets', unit: '10*3/uL', low: 150, high: 400 },
    ],
  },
  {
    code: '51990-0',
    name: 'Basic metabolic panel - Blood',
    analytes: [
      { loinc: '2951-2', name: 'Sodium', unit: 'mmol/L', low: 135, high: 145 },
      { loinc: '2823-3', name: 'Potassium', unit: 'mmol/L', low: 3.5, high: 5.1 },
      { loinc: '2075-0', name: 'Chloride', unit: 'mmol/L', low: 98, high: 107 },
      { loinc: '2028-9', name: 'Carbon dioxide', unit: 'mmol/L', low: 22, high: 29 },
      { loinc: '3094-0', name: 'Urea nitrogen', unit: 'mg/dL', low: 7, high: 20 },
      { loinc: '2160-0', name: 'Creatinine', unit: 'mg/dL', low: 0.6, high: 1.3 },
      { loinc: '2345-7', name: 'Glucose', unit: 'mg/dL', low: 70, high: 99 },
      { loinc: '17861-6', name: 'Calcium', unit: 'mg/dL', low: 8.6, high: 10.3 },
    ],
  },
];

/** The panel of the `n`-th seeded order (the four panels in turn). */
export function panelOf(n: number): BenchPanel {
  return BENCH_PANELS[n % BENCH_PANELS.length];
}

/** A value around the range (mostly inside, about one in eight outside) and its table 0078 flag. */
function measure(analyte: BenchAnalyte, random: () => number): { value: string; flag: string } {
  const span = analyte.high - analyte.low;
  const value = analyte.low - span / 8 + random() * span * 1.25;
  const digits = span >= 20 ? 0 : span >= 2 ? 1 : 2;
  const flag = value < analyte.low ? 'L' : value > analyte.high ? 'H' : 'N';
  return { value: value.toFixed(digits), flag };
}

/** An OBX segment (NM, final) for one analyte of the panel. */
function observationSegment(
  set: number,
  analyte: BenchAnalyte,
  time: string,
  random: () => number,
): Hl7Segment {
  const { value, flag } = measure(analyte, random);
  return new Hl7Segment([
    'OBX',
    String(set),
    'NM',
    `${analyte.loinc}^${analyte.name}^LN`,
    '',
    value,
    `${analyte.unit}^${analyte.unit}^UCUM`,
    `${analyte.low}-${analyte.high}`,
    flag,
    '',
    '',
    'F',
    '',
    '',
    time,
  ]);
}

/**
 * The final ORU^R01 of one order: the simulator's header, patient and request segments under
 * `controlId`, then one OBX per analyte of `panel`.
 */
export function benchResult(
  orderId: string,
  panel: BenchPanel,
  controlId: string,
  random: () => number = Math.random,
): Hl7Message {
  const now = new Date();
  const header = buildOruR01({ placerOrderNumber: orderId, panel: panel.code }, { controlId, now });
  const time = formatHl7DateTime(now);
  return new Hl7Message([
    ...header.segments.filter((s) => s.name !== 'OBX'),
    ...panel.analytes.map((analyte, i) => observationSegment(i + 1, analyte, time, random)),
  ]);
}
