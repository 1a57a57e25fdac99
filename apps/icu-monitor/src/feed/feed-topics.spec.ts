import { bedOfTopic, canonicalRoute, VITALS_TOPIC_PATTERN, withPrefix } from './feed-topics';

describe('feed topics', () => {
  it('subscribes under the configured prefix and routes back to the canonical pattern', () => {
    expect(withPrefix(VITALS_TOPIC_PATTERN, 'icu-test-1')).toBe('icu-test-1/beds/+/vitals');
    expect(withPrefix(VITALS_TOPIC_PATTERN, 'icu')).toBe('icu/beds/+/vitals');
    expect(canonicalRoute('icu-test-1/beds/ICU-01/vitals', 'icu-test-1')).toBe('icu/beds/ICU-01/vitals');
    // A topic under another prefix does not become one of ours.
    expect(canonicalRoute('ward/beds/ICU-01/vitals', 'icu-test-1')).toBe('ward/beds/ICU-01/vitals');
    expect(canonicalRoute('icu-test-10/beds/ICU-01/vitals', 'icu-test-1')).toBe(
      'icu-test-10/beds/ICU-01/vitals',
    );
  });

  it('reads the bed of a vitals topic, and nothing from any other topic', () => {
    expect(bedOfTopic('icu/beds/ICU-07/vitals', 'icu')).toBe('ICU-07');
    expect(bedOfTopic('ward/beds/ICU-07/vitals', 'icu')).toBeUndefined();
    expect(bedOfTopic('icu/beds//vitals', 'icu')).toBeUndefined();
    expect(bedOfTopic('icu/beds/ICU-07/vitals/extra', 'icu')).toBeUndefined();
    expect(bedOfTopic('icu/rooms/ICU-07/vitals', 'icu')).toBeUndefined();
    expect(bedOfTopic('icu/beds/ICU-07/alerts', 'icu')).toBeUndefined();
  });
});
