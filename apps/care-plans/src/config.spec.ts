import { ConfigError } from '@hospital/platform';
import { carePlansConfig } from './config';

const base = { SERVICE_KEY_SEED: 'x'.repeat(32) };

describe('carePlansConfig', () => {
  it('defaults to port 3007, tcc, and its peers', () => {
    const config = carePlansConfig(base);
    expect(config.port).toBe(3007);
    expect(config.database.database).toBe('hospital_care_plans');
    expect(config.env.CARE_PLAN_DEFAULT_MODE).toBe('tcc');
    expect(config.peers).toEqual({
      emr: 'http://127.0.0.1:3001',
      appointments: 'http://127.0.0.1:3006',
      pacs: 'http://127.0.0.1:3003',
      'pharmacy-inventory': 'http://127.0.0.1:3041',
    });
    expect(
      carePlansConfig({ ...base, PHARMACY_INVENTORY_URL: 'http://stock:9' }).peers['pharmacy-inventory'],
    ).toBe('http://stock:9');
  });

  it('refuses an unknown default mode and a lease a live replica could let run out, naming the variable', () => {
    expect(() => carePlansConfig({ ...base, CARE_PLAN_DEFAULT_MODE: '2pc' })).toThrow(
      /CARE_PLAN_DEFAULT_MODE/,
    );
    expect(() =>
      carePlansConfig({ ...base, CARE_PLAN_LEASE_MS: '6000', CARE_PLAN_CALL_TIMEOUT_MS: '5000' }),
    ).toThrow(ConfigError);
    expect(() =>
      carePlansConfig({ ...base, CARE_PLAN_LEASE_MS: '6000', CARE_PLAN_CALL_TIMEOUT_MS: '5000' }),
    ).toThrow(/CARE_PLAN_LEASE_MS/);
    expect(
      carePlansConfig({ ...base, CARE_PLAN_LEASE_MS: '7001', CARE_PLAN_CALL_TIMEOUT_MS: '5000' }).env
        .CARE_PLAN_LEASE_MS,
    ).toBe(7001);
  });
});
