import fc from 'fast-check';
import type { MedicationDispense } from '@medplum/fhirtypes';
import { MAX_UNITS } from '../../contracts/pharmacy-events';
import { RXNORM_SYSTEM } from '../fhir-resources';
import { DEFAULT_LOCATION_ID, dispenseLineOf, parseQuantity } from './dispense-rules';
import { DispensingErrorCode, DispensingException } from './dispensing.exception';

const dispense = (overrides: Partial<MedicationDispense> = {}): MedicationDispense => ({
  resourceType: 'MedicationDispense',
  status: 'completed',
  medicationCodeableConcept: { coding: [{ system: RXNORM_SYSTEM, code: '197361' }] },
  quantity: { value: 30, unit: 'tablet' },
  ...overrides,
});

function refusal(work: () => unknown): DispensingErrorCode | undefined {
  try {
    work();
    return undefined;
  } catch (error) {
    if (error instanceof DispensingException) return error.code;
    throw error;
  }
}

describe('parseQuantity', () => {
  it.each([1, 30, MAX_UNITS])('accepts %d dose units', (value) => {
    expect(parseQuantity(value)).toBe(value);
  });

  it.each([
    ['missing', undefined],
    ['zero', 0],
    ['negative', -5],
    ['fractional', 2.5],
    ['absurd', 1e9],
    ['above the limit', MAX_UNITS + 1],
    ['a string', '30'],
    ['not a number', NaN],
    ['infinite', Infinity],
  ])('refuses %s', (_name, value) => {
    expect(refusal(() => parseQuantity(value))).toBe(DispensingErrorCode.InvalidQuantity);
  });

  it('accepts exactly the whole numbers from 1 to MAX_UNITS', () => {
    fc.assert(
      fc.property(fc.oneof(fc.integer(), fc.double(), fc.constant(undefined)), (value) => {
        const valid =
          typeof value === 'number' && Number.isInteger(value) && value >= 1 && value <= MAX_UNITS;
        expect(refusal(() => parseQuantity(value)) === undefined).toBe(valid);
      }),
    );
  });
});

describe('dispenseLineOf', () => {
  it('reads the RxNorm code, the quantity and the default location', () => {
    expect(dispenseLineOf(dispense())).toEqual({
      medication: { kind: 'code', code: '197361' },
      quantity: 30,
      locationId: DEFAULT_LOCATION_ID,
      defaultedLocation: true,
    });
  });

  it('reads a formulary reference and a Location reference', () => {
    const line = dispenseLineOf(
      dispense({
        medicationCodeableConcept: undefined,
        medicationReference: { reference: 'Medication/rxnorm-197361' },
        location: { reference: 'Location/ward-3a' },
      }),
    );
    expect(line.medication).toEqual({ kind: 'reference', id: 'rxnorm-197361' });
    expect(line.locationId).toBe('ward-3a');
  });

  it.each<[string, Partial<MedicationDispense>, DispensingErrorCode]>([
    ['a dispense still in preparation', { status: 'preparation' }, DispensingErrorCode.UnsupportedStatus],
    [
      'a drug without an RxNorm coding',
      { medicationCodeableConcept: { coding: [{ system: 'http://snomed.info/sct', code: '1' }] } },
      DispensingErrorCode.MedicationMissing,
    ],
    [
      'a medication reference to another type',
      { medicationCodeableConcept: undefined, medicationReference: { reference: 'Substance/x' } },
      DispensingErrorCode.MedicationMissing,
    ],
    ['a negative quantity', { quantity: { value: -1 } }, DispensingErrorCode.InvalidQuantity],
    ['no quantity', { quantity: undefined }, DispensingErrorCode.InvalidQuantity],
    [
      'a location of another type',
      { location: { reference: 'Patient/1' } },
      DispensingErrorCode.InvalidLocation,
    ],
    [
      'a location without a reference',
      { location: { display: 'ward' } },
      DispensingErrorCode.InvalidLocation,
    ],
    [
      'a location id the stock does not use',
      { location: { reference: 'Location/Ward_3A' } },
      DispensingErrorCode.InvalidLocation,
    ],
  ])('refuses %s', (_name, overrides, code) => {
    expect(refusal(() => dispenseLineOf(dispense(overrides)))).toBe(code);
  });

  it.each([
    [{ quantity: { value: 0 } }, 'quantity.value'],
    [{ status: 'in-progress' as const }, 'status'],
    [{ location: { reference: 'Location/Ward_3A' } }, 'location.reference'],
    [{ medicationCodeableConcept: { coding: [] } }, 'medicationCodeableConcept.coding'],
  ])('names the element %j under the resource’s place in the request', (overrides, element) => {
    const at = 'Bundle.entry[2].resource';
    expect(() => dispenseLineOf(dispense(overrides), at)).toThrow(
      expect.objectContaining({ expression: [`${at}.${element}`] }) as Error,
    );
    expect(() => dispenseLineOf(dispense(overrides))).toThrow(
      expect.objectContaining({ expression: [`MedicationDispense.${element}`] }) as Error,
    );
  });
});
