import type { DeliveryResult } from '../../ports/best-effort.ports';
import { PeerCallError } from './http-json';

/**
 * How an HTTP receiver's answer to a best-effort delivery (a `callPeer` that threw) counts: no answer at
 * all (refused, reset, timed out, or an answer that broke the contract), a 5xx or a 429 is worth another
 * try; any other 4xx never will be (the receiver refuses it for good: dead-lettered for an operator).
 */
export function httpDeliveryResult(error: unknown): DeliveryResult {
  if (!(error instanceof PeerCallError)) {
    return { kind: 'retryable', reason: error instanceof Error ? error.message : String(error) };
  }
  const status = error.status;
  if (status === undefined || status >= 500 || status === 429)
    return { kind: 'retryable', reason: error.message };
  return { kind: 'permanent', reason: error.message };
}
