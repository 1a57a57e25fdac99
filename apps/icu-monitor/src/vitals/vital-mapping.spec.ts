import fc from 'fast-check';
import type { Observation } from '@medplum/fhirtypes';
import {
  ACVPU_SYSTEM,
  LOINC,
  OBSERVATION_CATEGORY,
  UCUM,
  VITAL_CODES,
  type QuantityVital,
} from './vital-codes';
import { vitalOf } from './vital-mapping';
import { VitalErrorCode, VitalException } from './vitals.exception';

const NOW = new Date('2025-03-01T12:00:00Z');
const SKEW = 300_000;

const quantity = (value: number, unit: string) => ({ value, unit, system: UCUM, code: unit });

function observation(overrides: Partial<Observation> = {}): Observation {
  return {
    resourceType: 'Observation',
    status: 'final',
    category: [{ coding: [{ system: OBSERVATION_CATEGORY, code: 'vital-signs' }] }],
    code: { coding: [{ system: LOINC, code: '8867-4', display: 'Heart rate' }] },
    subject: { reference: 'Patient/pat-0001' },
    device: { reference: 'Device/ICU-01' },
    effectiveDateTime: '2025-03-01T11:58:00Z',
    valueQuantity: quantity(88, '/min'),
    ...overrides,
  };
}

const loinc = (...codes: string[]) => ({ coding: codes.map((code) => ({ system: LOINC, code })) });

function refusal(work: () => unknown): { code: VitalErrorCode; expression: readonly string[] } | undefined {
  try {
    work();
    return undefined;
  } catch (error) {
    if (error instanceof VitalException) return { code: error.code, expression: error.expression };
    throw error;
  }
}

const read = (overrides: Partial<Observation>) => vitalOf(observation(overrides), NOW, SKEW);

describe('vitalOf', () => {
  it('reads the patient, the bed, the parameter, the value and the time of a heart rate', () => {
    expect(read({})).toEqual({
      patientId: 'pat-0001',
      bedId: 'ICU-01',
      parameter: 'pulse',
      value: 88,
      effectiveAt: new Date('2025-03-01T11:58:00Z'),
      loinc: '8867-4',
    });
  });

  it.each([
    ['9279-1', '/min', 18, 'respirationRate'],
    ['59408-5', '%', 97, 'spo2'],
    ['2708-6', '%', 91, 'spo2'],
    ['8310-5', 'Cel', 38.4, 'temperature'],
    ['8480-6', 'mm[Hg]', 104, 'systolicBp'],
    ['3151-8', 'L/min', 2, 'onOxygen'],
    ['3151-8', 'L/min', 0, 'onOxygen'],
  ])('reads LOINC %s in %s as %s → %s', (code, unit, value, parameter) => {
    expect(read({ code: loinc(code), valueQuantity: quantity(value, unit) })).toMatchObject({
      parameter,
      value,
      loinc: code,
    });
  });

  it('takes SpO2 coded both ways (the vital-signs profile’s 2708-6 with 59408-5), beside other codings', () => {
    const code = {
      coding: [
        { system: 'http://snomed.info/sct', code: '431314004' },
        { system: LOINC, code: '2708-6' },
        { system: LOINC, code: '59408-5' },
      ],
    };
    expect(read({ code, valueQuantity: quantity(95, '%') })).toMatchObject({ parameter: 'spo2', value: 95 });
  });

  it('reads the systolic pressure of a blood pressure panel from its 8480-6 component', () => {
    const panel = read({
      code: loinc('85354-9'),
      valueQuantity: undefined,
      component: [
        { code: loinc('8462-4'), valueQuantity: quantity(60, 'mm[Hg]') },
        { code: loinc('8480-6'), valueQuantity: quantity(95, 'mm[Hg]') },
      ],
    });
    expect(panel).toMatchObject({ parameter: 'systolicBp', value: 95, loinc: '85354-9' });
  });

  it.each(['A', 'C', 'V', 'P', 'U'])('reads the ACVPU level %s of LOINC 67775-7', (level) => {
    const vital = read({
      code: loinc('67775-7'),
      valueQuantity: undefined,
      valueCodeableConcept: { coding: [{ system: ACVPU_SYSTEM, code: level }] },
    });
    expect(vital).toMatchObject({ parameter: 'consciousness', value: level });
  });

  it.each<[string, Partial<Observation>, VitalErrorCode, string]>([
    ['a cancelled reading', { status: 'cancelled' }, VitalErrorCode.UnsupportedStatus, 'Observation.status'],
    [
      'an entered-in-error one',
      { status: 'entered-in-error' },
      VitalErrorCode.UnsupportedStatus,
      'Observation.status',
    ],
    ['no category', { category: undefined }, VitalErrorCode.NotVitalSigns, 'Observation.category'],
    [
      'a laboratory observation',
      { category: [{ coding: [{ system: OBSERVATION_CATEGORY, code: 'laboratory' }] }] },
      VitalErrorCode.NotVitalSigns,
      'Observation.category',
    ],
    [
      'an unknown LOINC code (body weight)',
      { code: loinc('29463-7') },
      VitalErrorCode.UnknownCode,
      'Observation.code',
    ],
    [
      'a heart rate code in another system',
      { code: { coding: [{ system: 'http://snomed.info/sct', code: '8867-4' }] } },
      VitalErrorCode.UnknownCode,
      'Observation.code',
    ],
    [
      'codes of two vital signs',
      { code: loinc('8867-4', '9279-1') },
      VitalErrorCode.UnknownCode,
      'Observation.code',
    ],
    [
      'a heart rate in Hz',
      { valueQuantity: quantity(1.5, 'Hz') },
      VitalErrorCode.WrongUnit,
      'Observation.valueQuantity.code',
    ],
    [
      'a heart rate without a unit system',
      { valueQuantity: { value: 88, code: '/min' } },
      VitalErrorCode.WrongUnit,
      'Observation.valueQuantity.code',
    ],
    [
      'a temperature in Fahrenheit',
      { code: loinc('8310-5'), valueQuantity: quantity(101, '[degF]') },
      VitalErrorCode.WrongUnit,
      'Observation.valueQuantity.code',
    ],
    [
      'a heart rate of −5',
      { valueQuantity: quantity(-5, '/min') },
      VitalErrorCode.ImpossibleValue,
      'Observation.valueQuantity.value',
    ],
    [
      'a heart rate of 400',
      { valueQuantity: quantity(400, '/min') },
      VitalErrorCode.ImpossibleValue,
      'Observation.valueQuantity.value',
    ],
    [
      'an SpO2 of 101 %',
      { code: loinc('59408-5'), valueQuantity: quantity(101, '%') },
      VitalErrorCode.ImpossibleValue,
      'Observation.valueQuantity.value',
    ],
    [
      'a temperature of 60 °C',
      { code: loinc('8310-5'), valueQuantity: quantity(60, 'Cel') },
      VitalErrorCode.ImpossibleValue,
      'Observation.valueQuantity.value',
    ],
    ['no value', { valueQuantity: undefined }, VitalErrorCode.MissingValue, 'Observation.valueQuantity'],
    [
      'a panel without its systolic component',
      {
        code: loinc('85354-9'),
        valueQuantity: undefined,
        component: [{ code: loinc('8462-4'), valueQuantity: quantity(60, 'mm[Hg]') }],
      },
      VitalErrorCode.MissingValue,
      'Observation.component',
    ],
    [
      'a panel whose systolic pressure is 350',
      {
        code: loinc('85354-9'),
        valueQuantity: undefined,
        component: [{ code: loinc('8480-6'), valueQuantity: quantity(350, 'mm[Hg]') }],
      },
      VitalErrorCode.ImpossibleValue,
      'Observation.component[0].valueQuantity.value',
    ],
    [
      'a consciousness level outside ACVPU',
      {
        code: loinc('67775-7'),
        valueQuantity: undefined,
        valueCodeableConcept: { coding: [{ system: ACVPU_SYSTEM, code: 'X' }] },
      },
      VitalErrorCode.ImpossibleValue,
      'Observation.valueCodeableConcept.coding',
    ],
    [
      'a consciousness level in another code system',
      {
        code: loinc('67775-7'),
        valueQuantity: undefined,
        valueCodeableConcept: { coding: [{ system: 'http://snomed.info/sct', code: '248234008' }] },
      },
      VitalErrorCode.MissingValue,
      'Observation.valueCodeableConcept',
    ],
    ['no subject', { subject: undefined }, VitalErrorCode.SubjectRequired, 'Observation.subject'],
    [
      'a subject that is not a Patient',
      { subject: { reference: 'Group/g1' } },
      VitalErrorCode.SubjectRequired,
      'Observation.subject',
    ],
    ['no bed', { device: undefined }, VitalErrorCode.BedRequired, 'Observation.device'],
    [
      'a bed as a DeviceMetric',
      { device: { reference: 'DeviceMetric/ICU-01' } },
      VitalErrorCode.BedRequired,
      'Observation.device',
    ],
    [
      'no effectiveDateTime',
      { effectiveDateTime: undefined },
      VitalErrorCode.EffectiveRequired,
      'Observation.effectiveDateTime',
    ],
    [
      'an effective period instead',
      { effectiveDateTime: undefined, effectivePeriod: { start: '2025-03-01T11:58:00Z' } },
      VitalErrorCode.EffectiveRequired,
      'Observation.effectiveDateTime',
    ],
    [
      'a bare date',
      { effectiveDateTime: '2025-03-01' },
      VitalErrorCode.EffectiveRequired,
      'Observation.effectiveDateTime',
    ],
    [
      'a time past the clocks’ drift',
      { effectiveDateTime: '2025-03-01T12:05:01Z' },
      VitalErrorCode.EffectiveInFuture,
      'Observation.effectiveDateTime',
    ],
  ])('refuses %s', (_name, overrides, code, expression) => {
    expect(refusal(() => read(overrides))).toEqual({
      code,
      expression: expect.arrayContaining([expression]),
    });
  });

  it('accepts a time within the clocks’ drift', () => {
    expect(read({ effectiveDateTime: '2025-03-01T13:04:59+01:00' }).effectiveAt).toEqual(
      new Date('2025-03-01T12:04:59Z'),
    );
  });

  it('never names a value or the patient in its messages', () => {
    for (const overrides of [
      { valueQuantity: quantity(-5, '/min') },
      { subject: { reference: 'Group/secret' } },
    ]) {
      expect(() => read(overrides)).toThrow(VitalException);
      expect(() => read(overrides)).not.toThrow(/-5|secret|pat-0001/);
    }
  });

  const quantityCodes = Object.entries(VITAL_CODES).filter(
    (entry): entry is [string, QuantityVital] => entry[1].kind === 'quantity',
  );

  it.each(quantityCodes)('accepts LOINC %s exactly inside its bounds', (code, definition) => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.double({ min: definition.min - 100, max: definition.max + 100, noNaN: true }),
          fc.constantFrom(definition.min, definition.max, Infinity, -Infinity, NaN),
        ),
        (value) => {
          const inside = Number.isFinite(value) && value >= definition.min && value <= definition.max;
          const outcome = refusal(() =>
            read({ code: loinc(code), valueQuantity: quantity(value, definition.unit) }),
          );
          expect(outcome === undefined).toBe(inside);
          if (!inside) expect(outcome?.code).toBe(VitalErrorCode.ImpossibleValue);
        },
      ),
    );
  });
});
