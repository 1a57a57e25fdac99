import type { ServiceRequest } from '@medplum/fhirtypes';
import { ORDER_CATEGORY } from '@hospital/fhir';
import { orderDestination } from './order-routing';

const order = (...codings: { system: string; code: string }[]): ServiceRequest => ({
  resourceType: 'ServiceRequest',
  status: 'active',
  intent: 'order',
  subject: { reference: 'Patient/p1' },
  category: [{ coding: codings }],
});

describe('order routing', () => {
  it('sends laboratory orders to the LIS and imaging orders to the PACS, by SNOMED category', () => {
    expect(orderDestination(order(ORDER_CATEGORY.laboratory))).toBe('lis');
    expect(orderDestination(order(ORDER_CATEGORY.imaging))).toBe('pacs');
  });

  it('routes no order whose category is unknown or in another code system', () => {
    expect(orderDestination(order({ system: 'http://snomed.info/sct', code: '409063005' }))).toBeUndefined();
    expect(orderDestination(order({ system: 'http://example.org', code: '108252007' }))).toBeUndefined();
    expect(orderDestination({ ...order(), category: undefined })).toBeUndefined();
  });
});
