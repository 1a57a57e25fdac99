import { DomainException, ErrorCodeMappings } from '@hospital/platform';

/** How the MQTT feed refuses a message before it reaches the vital's checks (`VitalErrorCode`). */
export enum FeedErrorCode {
  /** The payload is not a JSON object. */
  MalformedJson = 'malformed-json',
  /** The topic's bed (`<prefix>/beds/<bedId>/vitals`) is not the Observation's `device`. */
  TopicBedMismatch = 'topic-bed-mismatch',
}

/** Feed-only codes: never an HTTP answer in practice, and never better on a second delivery. */
export const FEED_ERRORS: ErrorCodeMappings<FeedErrorCode> = {
  [FeedErrorCode.MalformedJson]: { status: 400, issue: 'structure', message: 'dead-letter' },
  [FeedErrorCode.TopicBedMismatch]: { status: 400, issue: 'business-rule', message: 'dead-letter' },
};

/** A feed message refused; messages name the topic's bed, never values or the patient. */
export class FeedException extends DomainException<FeedErrorCode> {
  constructor(code: FeedErrorCode, message: string, expression: readonly string[] = []) {
    super('feed', code, FEED_ERRORS, message, { expression });
  }
}
