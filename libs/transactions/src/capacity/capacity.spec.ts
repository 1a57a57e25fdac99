import fc from 'fast-check';
import { CAPACITY_ERRORS, CapacityErrorCode, InvalidClaimError, UnsupportedResourceError } from './errors';
import {
  assertApply,
  assertCapacity,
  assertResourceId,
  assertTry,
  assertUnits,
  branchKey,
  CapacityKind,
  CLAIM_KEY,
  MAX_CLAIM_UNITS,
  RESOURCE_ID,
} from './types';

const imaging: CapacityKind = {
  kind: 'imaging',
  id: /^[A-Z]{2}:\d{4}-\d{2}-\d{2}$/,
  example: 'imaging:CT:2026-12-07',
};

describe('capacity claims: validation', () => {
  it('accepts exactly the whole numbers 1…10000 as units', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: MAX_CLAIM_UNITS }), (units) => {
        expect(assertUnits(units)).toBe(units);
      }),
    );
    fc.assert(
      fc.property(
        fc.oneof(
          fc.integer({ max: 0 }),
          fc.integer({ min: MAX_CLAIM_UNITS + 1 }),
          fc.double({ noInteger: true }),
          fc.string(),
          fc.constant(null),
          fc.constant(undefined),
        ),
        (units) => {
          expect(() => assertUnits(units)).toThrow(InvalidClaimError);
        },
      ),
    );
  });

  it('refuses anything the database CHECK would refuse, as an invalid claim, never another error', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 140 }), (resource) => {
        if (RESOURCE_ID.test(resource)) expect(assertResourceId(resource)).toBe(resource);
        else expect(() => assertResourceId(resource)).toThrow(InvalidClaimError);
      }),
    );
    expect(() => assertResourceId(`drug:${'1'.repeat(121)}`)).toThrow(InvalidClaimError);
    expect(assertResourceId(`drug:${'1'.repeat(120)}`)).toBe(`drug:${'1'.repeat(120)}`);
  });

  it('refuses a well-formed id of a kind the participant does not offer, or of the wrong shape', () => {
    expect(assertResourceId('imaging:CT:2026-12-07', [imaging])).toBe('imaging:CT:2026-12-07');
    for (const id of [
      'slot:0b6a5c1e',
      'imaging:CTX:2026-12-07',
      'imaging:CT:7-12-2026',
      'imagingx:CT:2026-12-07',
    ])
      expect(() => assertResourceId(id, [imaging])).toThrow(UnsupportedResourceError);
    expect(() => assertResourceId('Imaging:CT', [imaging])).toThrow(InvalidClaimError);
  });

  it('names the first bad field of a claim, and builds branch keys a claim key accepts', () => {
    const claim = { key: 'g-1:pharmacy', gtid: 'g-1', resource: 'drug:197361@icu', units: 2 };
    expect(() => assertApply(claim)).not.toThrow();
    const field = (call: () => void): readonly string[] => {
      try {
        call();
      } catch (error) {
        if (error instanceof InvalidClaimError) return error.expression;
      }
      return [];
    };
    expect(field(() => assertApply({ ...claim, key: 'a key' }))).toEqual(['key']);
    expect(field(() => assertApply({ ...claim, gtid: '' }))).toEqual(['gtid']);
    expect(field(() => assertTry({ gtid: 'g-1', branch: '-', resource: claim.resource, units: 1 }))).toEqual([
      'branch',
    ]);
    expect(field(() => assertCapacity(-1))).toEqual(['capacity']);
    const longest = branchKey('g'.repeat(64), 'b'.repeat(64));
    expect(CLAIM_KEY.test(longest)).toBe(true);
  });

  it('maps refusals a caller acts on to 409 and the unknown resource to 404', () => {
    expect(CAPACITY_ERRORS[CapacityErrorCode.InsufficientCapacity]).toMatchObject({
      status: 409,
      issue: 'conflict',
    });
    expect(CAPACITY_ERRORS[CapacityErrorCode.ClaimReleased]).toMatchObject({
      status: 409,
      issue: 'conflict',
    });
    expect(CAPACITY_ERRORS[CapacityErrorCode.BranchCancelled]).toMatchObject({
      status: 409,
      issue: 'conflict',
    });
    expect(CAPACITY_ERRORS[CapacityErrorCode.UnknownResource]).toMatchObject({
      status: 404,
      issue: 'not-found',
    });
    expect(CAPACITY_ERRORS[CapacityErrorCode.InvalidClaim]).toMatchObject({ status: 400 });
  });
});
