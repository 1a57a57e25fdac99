import { GatewayException } from '../gateway.exception';
import { bundleEntryTypes } from './bundle-types';

const json = (value: unknown): Buffer => Buffer.from(JSON.stringify(value));

describe('bundleEntryTypes', () => {
  it("takes each entry's resource type, else its request URL's type", () => {
    expect(
      bundleEntryTypes(
        json({
          resourceType: 'Bundle',
          type: 'transaction',
          entry: [
            { resource: { resourceType: 'Patient' }, request: { method: 'POST', url: 'Patient' } },
            { request: { method: 'DELETE', url: 'Encounter/1' } },
            { request: { method: 'GET', url: '/Observation?subject=Patient/1' } },
          ],
        }),
      ),
    ).toEqual(['Patient', 'Encounter', 'Observation']);
  });

  it.each([
    ['not JSON', Buffer.from('{"resourceType":')],
    ['a resource that is not a Bundle', json({ resourceType: 'Patient' })],
    ['a searchset', json({ resourceType: 'Bundle', type: 'searchset', entry: [] })],
    ['an array', json([])],
    ['no entries', json({ resourceType: 'Bundle', type: 'batch' })],
    ['an entry without a type', json({ resourceType: 'Bundle', type: 'batch', entry: [{}] })],
  ])('refuses %s with 400', (_what, body) => {
    expect(() => bundleEntryTypes(body)).toThrow(GatewayException);
    try {
      bundleEntryTypes(body);
    } catch (error) {
      expect((error as GatewayException).status).toBe(400);
    }
  });
});
