/**
 * The feed's topics. Handlers name them with the canonical first level `icu`; the server subscribes with
 * the configured `MQTT_TOPIC_PREFIX` in its place (so test runs and units can share a broker).
 */
export const CANONICAL_PREFIX = 'icu';
export const VITALS_TOPIC_PATTERN = `${CANONICAL_PREFIX}/beds/+/vitals`;

/** `<prefix>/…` for a canonical `icu/…` pattern. */
export function withPrefix(pattern: string, prefix: string): string {
  return pattern.startsWith(`${CANONICAL_PREFIX}/`)
    ? `${prefix}${pattern.slice(CANONICAL_PREFIX.length)}`
    : pattern;
}

/** The canonical `icu/…` route of a topic under `prefix` (other topics as they are). */
export function canonicalRoute(topic: string, prefix: string): string {
  return topic.startsWith(`${prefix}/`) ? `${CANONICAL_PREFIX}${topic.slice(prefix.length)}` : topic;
}

/** The bed id of `<prefix>/beds/<bedId>/vitals`, or undefined for any other topic. */
export function bedOfTopic(topic: string, prefix: string): string | undefined {
  const levels = topic.split('/');
  if (levels.length !== 4 || levels[0] !== prefix || levels[1] !== 'beds' || levels[3] !== 'vitals') {
    return undefined;
  }
  return levels[2] === '' ? undefined : levels[2];
}

export const vitalsTopic = (prefix: string, bedId: string): string => `${prefix}/beds/${bedId}/vitals`;
export const deadLetterTopic = (prefix: string): string => `${prefix}/dead-letter`;
