import {
  CheckBackClient,
  MESSAGE_STATES,
  MessageOutcome,
  MessageRecord,
  MessageServerClient,
  MessageState,
  PreparedMessage,
} from '../../ports/message-transaction.ports';
import { callPeer, isRecord, PeerCallError } from './http-json';

/**
 * The HTTP contract of two-phase messages. The server serves prepare, submit and abort; every producer
 * serves the check-back `outcome`. Paths are relative to a service's base URL; every call carries the gtid
 * in the `x-gtid` header as well as in the path.
 */
export const MessageTransactionRoutes = {
  prepare: (gtid: string) => `/internal/message-transactions/${encodeURIComponent(gtid)}/prepare`,
  submit: (gtid: string) => `/internal/message-transactions/${encodeURIComponent(gtid)}/submit`,
  abort: (gtid: string) => `/internal/message-transactions/${encodeURIComponent(gtid)}/abort`,
  outcome: (gtid: string) => `/internal/message-transactions/${encodeURIComponent(gtid)}/outcome`,
};

/** Body of `POST /internal/message-transactions/:gtid/prepare`: the message without its gtid. */
export type PrepareMessageBody = Omit<PreparedMessage, 'gtid'>;

/** Answer of prepare, submit and abort. */
export interface MessageStateAnswer {
  state: MessageState;
}

/** Answer of a producer's check-back route. */
export interface MessageOutcomeAnswer {
  outcome: MessageOutcome;
}

function parseState(body: unknown): MessageState {
  const state = isRecord(body) ? body.state : undefined;
  if (typeof state === 'string' && (MESSAGE_STATES as readonly string[]).includes(state))
    return state as MessageState;
  throw new PeerCallError('message server answered without a message state');
}

/** The producer's client of the two-phase message server. */
export class HttpMessageServerClient implements MessageServerClient {
  constructor(
    private readonly baseUrl: string,
    private readonly timeoutMs = 10_000,
  ) {}

  async prepare(message: PreparedMessage): Promise<MessageState> {
    const { gtid, ...rest } = message;
    const body: PrepareMessageBody = rest;
    return parseState(await this.post(MessageTransactionRoutes.prepare(gtid), gtid, body));
  }

  async submit(gtid: string): Promise<MessageState> {
    return parseState(await this.post(MessageTransactionRoutes.submit(gtid), gtid, {}));
  }

  async abort(gtid: string): Promise<MessageState> {
    return parseState(await this.post(MessageTransactionRoutes.abort(gtid), gtid, {}));
  }

  private post(path: string, gtid: string, body: unknown): Promise<unknown> {
    return callPeer(new URL(path, this.baseUrl).toString(), gtid, { body, timeoutMs: this.timeoutMs });
  }
}

/** The server's check-back: asks the producer at the base URL it registered with the message. */
export class HttpCheckBackClient implements CheckBackClient {
  constructor(private readonly timeoutMs = 10_000) {}

  async outcome(message: Pick<MessageRecord, 'gtid' | 'producer' | 'checkBackUrl'>): Promise<MessageOutcome> {
    const url = new URL(MessageTransactionRoutes.outcome(message.gtid), message.checkBackUrl).toString();
    const body = await callPeer(url, message.gtid, { method: 'GET', timeoutMs: this.timeoutMs });
    const outcome = isRecord(body) ? body.outcome : undefined;
    if (outcome === 'committed' || outcome === 'aborted') return outcome;
    throw new PeerCallError(`${message.producer} answered the check-back without an outcome`);
  }
}
