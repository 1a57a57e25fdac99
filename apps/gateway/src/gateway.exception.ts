import { DomainException, ErrorCodeMappings } from '@hospital/platform';

/** Every way the gateway itself refuses or fails a request (a backend's own errors pass through as sent). */
export enum GatewayErrorCode {
  /** No backend serves the resource type (or the path is not a FHIR interaction). */
  UnknownResourceType = 'unknown-resource-type',
  /** `/api/<service>/…` names no backend of the gateway. */
  UnknownService = 'unknown-service',
  /** The request is malformed before any backend sees it (a Bundle that is not one, a dot segment). */
  InvalidRequest = 'invalid-request',
  PayloadTooLarge = 'payload-too-large',
  RateLimited = 'rate-limited',
  /** The backend could not be reached (refused, down, connect time-out). */
  BackendUnavailable = 'backend-unavailable',
  /** The backend broke off its answer or sent something that is not HTTP. */
  BadGateway = 'bad-gateway',
  /** The backend did not answer in time. */
  BackendTimeout = 'backend-timeout',
}

export const GATEWAY_ERRORS: ErrorCodeMappings<GatewayErrorCode> = {
  [GatewayErrorCode.UnknownResourceType]: { status: 404, issue: 'not-supported', message: 'dead-letter' },
  [GatewayErrorCode.UnknownService]: { status: 404, issue: 'not-found', message: 'dead-letter' },
  [GatewayErrorCode.InvalidRequest]: { status: 400, issue: 'invalid', message: 'dead-letter' },
  [GatewayErrorCode.PayloadTooLarge]: { status: 413, issue: 'too-long', message: 'dead-letter' },
  [GatewayErrorCode.RateLimited]: { status: 429, issue: 'throttled', message: 'retry' },
  [GatewayErrorCode.BackendUnavailable]: { status: 503, issue: 'transient', message: 'retry' },
  [GatewayErrorCode.BadGateway]: { status: 502, issue: 'exception', message: 'retry' },
  [GatewayErrorCode.BackendTimeout]: { status: 504, issue: 'timeout', message: 'retry' },
};

export class GatewayException extends DomainException<GatewayErrorCode> {
  constructor(code: GatewayErrorCode, message: string, cause?: unknown) {
    super('gateway', code, GATEWAY_ERRORS, message, { cause });
  }
}
