import { carePlanExample } from '../testing/care-plan-examples';
import { GTID_SYSTEM, planResource } from './plan-resource';
import { planRequestOf } from './plan-request';
import { reservationsOf, type PlanInput } from './treatment-plan';

const carePlan = {
  ...carePlanExample({
    patientId: 'pat-1',
    careTeamId: 'team-1',
    consults: [{ slotId: 's', practitionerId: 'p' }],
    regimen: { drugCode: '197361', locationId: 'ward-3a', quantity: 2 },
  }),
  id: 'client-id',
  meta: { versionId: '9' },
  identifier: [
    { system: 'urn:clinic', value: 'A-1' },
    { system: GTID_SYSTEM, value: 'forged' },
  ],
};
const input: PlanInput = {
  planId: 'plan-1',
  mode: 'tcc',
  careTeamId: 'team-1',
  carePlan,
  reservations: reservationsOf(planRequestOf(carePlan)),
};

describe('planResource', () => {
  it('stores the plan under its id, with its status, its activities following it, and its gtid', () => {
    const draft = planResource(input, 'g-1', 'draft');
    expect(draft).toMatchObject({ resourceType: 'CarePlan', id: 'plan-1', status: 'draft' });
    expect(draft.meta).toBeUndefined();
    expect(draft.identifier).toEqual([
      { system: 'urn:clinic', value: 'A-1' },
      { system: GTID_SYSTEM, value: 'g-1' },
    ]);
    expect(draft.activity?.map((a) => a.detail?.status)).toEqual(['not-started', 'not-started']);
    expect(planResource(input, 'g-1', 'active').activity?.map((a) => a.detail?.status)).toEqual([
      'scheduled',
      'scheduled',
    ]);
    expect(draft.note).toBeUndefined();
  });

  it('says why a revoked plan was revoked, its activities cancelled', () => {
    const revoked = planResource(input, 'g-1', 'revoked', 'regimen: out of stock');
    expect(revoked.status).toBe('revoked');
    expect(revoked.activity?.map((a) => a.detail?.status)).toEqual(['cancelled', 'cancelled']);
    expect(revoked.note).toEqual([{ text: 'Revoked: regimen: out of stock' }]);
  });
});
