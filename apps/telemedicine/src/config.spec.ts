import { telemedicineConfig } from './config';
import { referralInboxConfig } from './referral-inbox/config';

const base = { SERVICE_KEY_SEED: 'x'.repeat(32) };

describe('telemedicine configuration', () => {
  it('defaults to port 3008, its database and its participants', () => {
    const config = telemedicineConfig(base);
    expect(config.port).toBe(3008);
    expect(config.database.database).toBe('hospital_telemedicine');
    expect(config.env.CONSULT_TEXT_MAX_CHARS).toBe(20_000);
    expect(config.peers).toEqual({
      emr: 'http://127.0.0.1:3001',
      'referral-inbox': 'http://127.0.0.1:3081',
      telemedicine: 'http://127.0.0.1:3008',
    });
  });

  it('fails naming a bad variable', () => {
    expect(() => telemedicineConfig({ ...base, CONSULT_TEXT_MAX_CHARS: '10' })).toThrow(
      /CONSULT_TEXT_MAX_CHARS/,
    );
    expect(() => telemedicineConfig({ ...base, REFERRAL_INBOX_URL: 'the inbox' })).toThrow(
      /REFERRAL_INBOX_URL/,
    );
  });

  it('runs the referral inbox on port 3081 and its own database', () => {
    const config = referralInboxConfig(base);
    expect(config.port).toBe(3081);
    expect(config.database.database).toBe('hospital_referral_inbox');
  });
});
