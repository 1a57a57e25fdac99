import type { Consciousness, News2Parameter } from '../news2/news2';

export const LOINC = 'http://loinc.org';
export const UCUM = 'http://unitsofmeasure.org';
export const OBSERVATION_CATEGORY = 'http://terminology.hl7.org/CodeSystem/observation-category';

/**
 * The ACVPU levels of consciousness, as `Observation.valueCodeableConcept` of LOINC 67775-7 (level of
 * responsiveness). LOINC's AVPU answers have no "new confusion", the C that NEWS2 adds, so the five levels
 * are coded in the platform's own code system, one code a letter: A, C, V, P, U.
 */
export const ACVPU_SYSTEM = 'urn:hospital:icu:acvpu';
export const ACVPU_LEVELS: readonly Consciousness[] = ['A', 'C', 'V', 'P', 'U'];

/** A vital with a numeric value: its UCUM unit and the bounds outside which no living patient measures. */
export interface QuantityVital {
  kind: 'quantity';
  parameter: Exclude<News2Parameter, 'consciousness'>;
  /** The UCUM code `valueQuantity.code` must carry (with `system` UCUM). */
  unit: string;
  min: number;
  max: number;
}

export interface ConsciousnessVital {
  kind: 'consciousness';
  parameter: 'consciousness';
}

/** The blood pressure panel: the vital is its systolic component. */
export interface PanelVital {
  kind: 'panel';
  component: string;
}

export type VitalDefinition = QuantityVital | ConsciousnessVital | PanelVital;

/**
 * Physiological bounds, not alarm limits: a value inside them is scored however alarming it is (a heart
 * rate of 0 is an arrest, and scores 3); a value outside them cannot come from a patient and is refused as
 * a device or entry error.
 */
const SYSTOLIC: QuantityVital = {
  kind: 'quantity',
  parameter: 'systolicBp',
  unit: 'mm[Hg]',
  min: 0,
  max: 300,
};
const SPO2: QuantityVital = { kind: 'quantity', parameter: 'spo2', unit: '%', min: 0, max: 100 };

/** The LOINC codes the monitor accepts, each the NEWS2 parameter it feeds. */
export const VITAL_CODES: Readonly<Record<string, VitalDefinition>> = {
  /** Heart rate. */
  '8867-4': { kind: 'quantity', parameter: 'pulse', unit: '/min', min: 0, max: 300 },
  /** Respiratory rate. */
  '9279-1': { kind: 'quantity', parameter: 'respirationRate', unit: '/min', min: 0, max: 80 },
  /** Oxygen saturation in arterial blood by pulse oximetry. */
  '59408-5': SPO2,
  /** Oxygen saturation in arterial blood. */
  '2708-6': SPO2,
  /** Body temperature. */
  '8310-5': { kind: 'quantity', parameter: 'temperature', unit: 'Cel', min: 20, max: 45 },
  /** Systolic blood pressure. */
  '8480-6': SYSTOLIC,
  /** Blood pressure panel: its 8480-6 component. */
  '85354-9': { kind: 'panel', component: '8480-6' },
  /** Level of responsiveness: ACVPU (see ACVPU_SYSTEM). */
  '67775-7': { kind: 'consciousness', parameter: 'consciousness' },
  /** Inhaled oxygen flow rate: above 0 L/min the patient is on supplemental oxygen; 0 is room air. */
  '3151-8': { kind: 'quantity', parameter: 'onOxygen', unit: 'L/min', min: 0, max: 80 },
};

/** The quantity definition of a panel's component (the systolic pressure of 85354-9). */
export function componentDefinition(code: string): QuantityVital | undefined {
  const definition = VITAL_CODES[code];
  return definition?.kind === 'quantity' ? definition : undefined;
}
