import { trustProxySetting } from './bootstrap';

describe('trustProxySetting (TRUST_PROXY)', () => {
  it('maps the words, hop counts and address lists to Express trust proxy values', () => {
    expect(trustProxySetting('false')).toBe(false);
    expect(trustProxySetting('none')).toBe(false);
    expect(trustProxySetting('true')).toBe(true);
    expect(trustProxySetting('2')).toBe(2);
    expect(trustProxySetting('loopback')).toEqual(['loopback']);
    expect(trustProxySetting('loopback, 10.0.0.0/8')).toEqual(['loopback', '10.0.0.0/8']);
  });
});
