import { httpDeliveryResult } from './http-delivery';
import { PeerCallError } from './http-json';

describe('httpDeliveryResult', () => {
  it('retries a 5xx, a 429 and no answer at all; gives up on any other 4xx', () => {
    expect(httpDeliveryResult(new PeerCallError('HTTP 503', 503))).toEqual({
      kind: 'retryable',
      reason: 'HTTP 503',
    });
    expect(httpDeliveryResult(new PeerCallError('HTTP 429', 429)).kind).toBe('retryable');
    expect(httpDeliveryResult(new PeerCallError('connect ECONNREFUSED')).kind).toBe('retryable');
    expect(httpDeliveryResult(new Error('socket hang up'))).toEqual({
      kind: 'retryable',
      reason: 'socket hang up',
    });
    expect(httpDeliveryResult(new PeerCallError('HTTP 400', 400))).toEqual({
      kind: 'permanent',
      reason: 'HTTP 400',
    });
    expect(httpDeliveryResult(new PeerCallError('HTTP 403', 403)).kind).toBe('permanent');
  });
});
