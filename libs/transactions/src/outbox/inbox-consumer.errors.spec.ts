import { deliverFailing } from '../testing/failing-consumer';
import { isCodedError, RejectedMessageError } from './inbox-consumer';

/** A domain error as a service's module declares it: a code, and whether a consumer retries it. */
class CodedFailure extends Error {
  constructor(
    readonly code: string,
    readonly disposition: 'retry' | 'dead-letter',
    message: string,
  ) {
    super(message);
  }
}

describe('InboxConsumer: how a handler failure is settled', () => {
  it('dead-letters a coded error whose code is dead-lettered at once, with the code as the reason', async () => {
    const { disposition, inbox } = await deliverFailing(
      new CodedFailure('stock-not-found', 'dead-letter', 'medication 1 is not stocked at ward-1'),
    );
    const reason = 'stock-not-found: medication 1 is not stocked at ward-1';
    expect(disposition).toEqual({ kind: 'dead-letter', reason });
    expect(inbox).toEqual({ outcome: 'dead-lettered', reason });
  });

  it('retries a coded error whose code is retried, then dead-letters it after the last attempt, code first', async () => {
    const error = new CodedFailure('message-server-unavailable', 'retry', 'down');
    const first = await deliverFailing(error, { deliveryCount: 0, maxAttempts: 3 });
    expect(first.disposition).toEqual({
      kind: 'retry',
      reason: 'failed 1 time(s): message-server-unavailable: down',
    });
    expect(first.inbox).toBeUndefined();
    const last = await deliverFailing(error, { deliveryCount: 2, maxAttempts: 3 });
    const reason = 'failed 3 time(s): message-server-unavailable: down';
    expect(last.disposition).toEqual({ kind: 'dead-letter', reason });
    expect(last.inbox).toEqual({ outcome: 'dead-lettered', reason });
  });

  it('keeps RejectedMessageError permanent and any other error transient', async () => {
    expect((await deliverFailing(new RejectedMessageError('bad payload'))).disposition).toEqual({
      kind: 'dead-letter',
      reason: 'bad payload',
    });
    expect((await deliverFailing(new Error('connection reset'))).disposition).toEqual({
      kind: 'retry',
      reason: 'failed 1 time(s): connection reset',
    });
  });

  it('takes only errors with a string code and a known disposition for coded ones', () => {
    expect(isCodedError(new CodedFailure('x', 'dead-letter', 'm'))).toBe(true);
    // A driver error has a code too (`ECONNRESET`, `40001`): without a disposition it stays transient.
    expect(isCodedError(Object.assign(new Error('reset'), { code: 'ECONNRESET' }))).toBe(false);
    expect(isCodedError({ code: 'x', disposition: 'dead-letter', message: 'not an Error' })).toBe(false);
    expect(isCodedError(Object.assign(new Error('m'), { code: 'x', disposition: 'later' }))).toBe(false);
  });
});
