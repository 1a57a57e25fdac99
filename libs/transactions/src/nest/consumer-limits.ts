/**
 * How long a consumer keeps trying a message whose handler fails for a passing reason (a database down, a
 * device that does not answer). `'dead-letter'` (the default): after `CONSUMER_MAX_ATTEMPTS` deliveries the
 * message goes to the dead-letter queue. `'retry-forever'`: it is handed back with back-off for as long as
 * it takes, so a device down for hours loses nothing; permanent rejections are dead-lettered as before.
 */
export type TransientFailurePolicy = 'dead-letter' | 'retry-forever';

/** The broker's own delivery limit of a retry-forever queue: about a month at the 30 s back-off ceiling. */
export const RETRY_FOREVER_DELIVERY_LIMIT = 100_000;

/** The limits one consumer runs with. */
export interface ConsumerLimits {
  /** Deliveries of a transiently failing message before the inbox dead-letters it. */
  maxAttempts: number;
  /** Deliveries a message waits for its missing predecessor before it is dead-lettered. */
  gapPatience: number;
  /** Redeliveries after which the broker itself moves a message to the dead-letter queue. */
  deliveryLimit: number;
}

/** The limits of a consumer from the service's `CONSUMER_MAX_ATTEMPTS` and the consumer's policy. */
export function consumerLimits(
  configuredMaxAttempts: number,
  policy: TransientFailurePolicy = 'dead-letter',
): ConsumerLimits {
  if (policy === 'retry-forever') {
    return {
      maxAttempts: Number.POSITIVE_INFINITY,
      gapPatience: 3 * configuredMaxAttempts,
      deliveryLimit: RETRY_FOREVER_DELIVERY_LIMIT,
    };
  }
  return {
    maxAttempts: configuredMaxAttempts,
    gapPatience: 3 * configuredMaxAttempts,
    deliveryLimit: 4 * configuredMaxAttempts,
  };
}
