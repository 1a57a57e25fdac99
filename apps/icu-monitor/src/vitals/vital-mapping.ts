import type { CodeableConcept, Observation, Quantity } from '@medplum/fhirtypes';
import type { Consciousness, News2Parameter } from '../news2/news2';
import {
  ACVPU_LEVELS,
  ACVPU_SYSTEM,
  LOINC,
  OBSERVATION_CATEGORY,
  UCUM,
  VITAL_CODES,
  componentDefinition,
  type QuantityVital,
  type VitalDefinition,
} from './vital-codes';
import { VitalErrorCode, VitalException } from './vitals.exception';

/** One scored reading: which parameter, its value, when it was measured. */
export interface Vital {
  patientId: string;
  bedId: string;
  parameter: News2Parameter;
  /** A number in the parameter's unit (the O2 flow rate in L/min for `onOxygen`), or an ACVPU level. */
  value: number | Consciousness;
  effectiveAt: Date;
  /** The LOINC code the reading came under (the panel's for a systolic pressure from a panel). */
  loinc: string;
}

const SCORED_STATUSES: readonly string[] = ['final', 'amended', 'corrected', 'preliminary'];
const PATIENT_REFERENCE = /^Patient\/([A-Za-z0-9\-.]{1,64})$/;
const BED_REFERENCE = /^Device\/([A-Za-z0-9-]{1,64})$/;
/** A FHIR dateTime with a time of day (R4 then requires the time zone). */
const DATE_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/;

const fail = (code: VitalErrorCode, message: string, ...expression: string[]): VitalException =>
  new VitalException(code, message, expression);

/** The accepted LOINC code of a CodeableConcept, and its definition. */
function codeOf(concept: CodeableConcept | undefined, at: string): [string, VitalDefinition] {
  const known = (concept?.coding ?? []).filter(
    (coding) =>
      coding.system === LOINC && coding.code !== undefined && VITAL_CODES[coding.code] !== undefined,
  );
  const codes = [...new Set(known.map((coding) => coding.code as string))];
  const parameters = new Set(codes.map((code) => JSON.stringify(VITAL_CODES[code])));
  if (codes.length === 0) {
    throw fail(
      VitalErrorCode.UnknownCode,
      'code needs a LOINC coding of a vital sign the monitor scores',
      at,
    );
  }
  if (parameters.size > 1)
    throw fail(VitalErrorCode.UnknownCode, 'code names more than one kind of vital sign', at);
  return [codes[0], VITAL_CODES[codes[0]]];
}

/** The value of a quantity vital: in its UCUM unit, a finite number inside the physiological bounds. */
function quantityOf(quantity: Quantity | undefined, definition: QuantityVital, at: string): number {
  if (quantity?.value === undefined) {
    throw fail(VitalErrorCode.MissingValue, 'A vital sign needs a valueQuantity with a value', at);
  }
  if (quantity.system !== UCUM || quantity.code !== definition.unit) {
    throw fail(
      VitalErrorCode.WrongUnit,
      `valueQuantity must be in UCUM ${definition.unit} (system ${UCUM}, code ${definition.unit})`,
      `${at}.code`,
    );
  }
  const value = quantity.value;
  if (!Number.isFinite(value) || value < definition.min || value > definition.max) {
    throw fail(
      VitalErrorCode.ImpossibleValue,
      `${definition.parameter} must lie between ${definition.min} and ${definition.max} ${definition.unit}`,
      `${at}.value`,
    );
  }
  return value;
}

function consciousnessOf(concept: CodeableConcept | undefined): Consciousness {
  const coding = concept?.coding?.find((c) => c.system === ACVPU_SYSTEM);
  if (coding === undefined) {
    throw fail(
      VitalErrorCode.MissingValue,
      `Level of consciousness needs a valueCodeableConcept coded in ${ACVPU_SYSTEM}`,
      'Observation.valueCodeableConcept',
    );
  }
  const level = ACVPU_LEVELS.find((l) => l === coding.code);
  if (level === undefined) {
    throw fail(
      VitalErrorCode.ImpossibleValue,
      'Level of consciousness must be one of A, C, V, P, U',
      'Observation.valueCodeableConcept.coding',
    );
  }
  return level;
}

/** The parameter and value an Observation carries under its accepted code. */
function readingOf(observation: Observation): Pick<Vital, 'parameter' | 'value' | 'loinc'> {
  const [loinc, definition] = codeOf(observation.code, 'Observation.code');
  switch (definition.kind) {
    case 'quantity':
      return {
        loinc,
        parameter: definition.parameter,
        value: quantityOf(observation.valueQuantity, definition, 'Observation.valueQuantity'),
      };
    case 'consciousness':
      return { loinc, parameter: 'consciousness', value: consciousnessOf(observation.valueCodeableConcept) };
    case 'panel': {
      const component = componentDefinition(definition.component) as QuantityVital;
      const index = (observation.component ?? []).findIndex((c) =>
        (c.code.coding ?? []).some(
          (coding) => coding.system === LOINC && coding.code === definition.component,
        ),
      );
      if (index < 0) {
        throw fail(
          VitalErrorCode.MissingValue,
          `A blood pressure panel needs its systolic component (LOINC ${definition.component})`,
          'Observation.component',
        );
      }
      const at = `Observation.component[${index}].valueQuantity`;
      const value = quantityOf(observation.component?.[index]?.valueQuantity, component, at);
      return { loinc, parameter: component.parameter, value };
    }
  }
}

/**
 * The NEWS2 reading of a vital-sign Observation (already valid FHIR R4), or a VitalException naming the
 * element at fault. Checks, in order: a scored status, the vital-signs category, an accepted LOINC code,
 * its UCUM unit and physiological bounds (or an ACVPU level), the subject `Patient/<id>`, the bed
 * `Device/<bedId>`, and an `effectiveDateTime` with a time of day no later than `now + maxSkewMs`. Whether
 * the bed exists and holds that patient is the transaction's to check.
 */
export function vitalOf(observation: Observation, now: Date, maxSkewMs: number): Vital {
  if (!SCORED_STATUSES.includes(observation.status)) {
    throw fail(
      VitalErrorCode.UnsupportedStatus,
      `status must be one of ${SCORED_STATUSES.join(', ')}`,
      'Observation.status',
    );
  }
  const vitalSigns = (observation.category ?? []).some((category) =>
    (category.coding ?? []).some((c) => c.system === OBSERVATION_CATEGORY && c.code === 'vital-signs'),
  );
  if (!vitalSigns) {
    throw fail(
      VitalErrorCode.NotVitalSigns,
      `category must include vital-signs (${OBSERVATION_CATEGORY})`,
      'Observation.category',
    );
  }
  const reading = readingOf(observation);
  const patientId = PATIENT_REFERENCE.exec(observation.subject?.reference ?? '')?.[1];
  if (patientId === undefined) {
    throw fail(VitalErrorCode.SubjectRequired, 'subject must reference Patient/<id>', 'Observation.subject');
  }
  const bedId = BED_REFERENCE.exec(observation.device?.reference ?? '')?.[1];
  if (bedId === undefined) {
    throw fail(
      VitalErrorCode.BedRequired,
      'device must reference the bed as Device/<bedId>',
      'Observation.device',
    );
  }
  const effective = observation.effectiveDateTime;
  if (effective === undefined || !DATE_TIME.test(effective) || Number.isNaN(Date.parse(effective))) {
    throw fail(
      VitalErrorCode.EffectiveRequired,
      'effectiveDateTime with a time of day and a time zone is required',
      'Observation.effectiveDateTime',
    );
  }
  const effectiveAt = new Date(effective);
  if (effectiveAt.getTime() > now.getTime() + maxSkewMs) {
    throw fail(
      VitalErrorCode.EffectiveInFuture,
      'effectiveDateTime lies in the future',
      'Observation.effectiveDateTime',
    );
  }
  return { patientId, bedId, effectiveAt, ...reading };
}
