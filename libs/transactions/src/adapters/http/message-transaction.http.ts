import type { ServiceCredentials } from '@hospital/platform';
import {
  CheckBackClient,
  MESSAGE_STATES,
  MessageOutcome,
  MessageRecord,
  MessageServerClient,
  MessageState,
  ProducedMessage,
} from '../../ports/message-transaction.ports';
import { callPeer, isRecord, PeerCallError } from './http-json';

/**
 * The HTTP contract of two-phase messages. The server serves prepare, submit and abort; every producer
 * serves the check-back `outcome`. Paths are relative to a service's base URL; every call carries the gtid
 * in the `x-gtid` header as well as in the path, and a service token for the service called
 * (`Authorization: Bearer`, see `@hospital/platform` `service-token.ts`). All four are POSTs: each may
 * change state (the check-back settles the producer's barrier).
 */
export const MessageTransactionRoutes = {
  prepare: (gtid: string) => `/internal/message-transactions/${encodeURIComponent(gtid)}/prepare`,
  submit: (gtid: string) => `/internal/message-transactions/${encodeURIComponent(gtid)}/submit`,
  abort: (gtid: string) => `/internal/message-transactions/${encodeURIComponent(gtid)}/abort`,
  outcome: (gtid: string) => `/internal/message-transactions/${encodeURIComponent(gtid)}/outcome`,
};

/** The route templates of `MessageTransactionRoutes`, naming the calls' trace spans. */
const routeTemplate = (step: 'prepare' | 'submit' | 'abort' | 'outcome'): string =>
  `/internal/message-transactions/:gtid/${step}`;

/**
 * Body of `POST /internal/message-transactions/:gtid/prepare`: the message without its gtid. `producer`
 * must be the authenticated caller; there is no check-back address: the server has its own.
 */
export type PrepareMessageBody = Omit<ProducedMessage, 'gtid'>;

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
    /** The server's service name: the audience of this producer's tokens. */
    private readonly server: string,
    private readonly credentials: ServiceCredentials,
    private readonly timeoutMs = 10_000,
  ) {}

  async prepare(message: ProducedMessage): Promise<MessageState> {
    const { gtid, ...rest } = message;
    const body: PrepareMessageBody = rest;
    return parseState(await this.post('prepare', gtid, body));
  }

  async submit(gtid: string): Promise<MessageState> {
    return parseState(await this.post('submit', gtid, {}));
  }

  async abort(gtid: string): Promise<MessageState> {
    return parseState(await this.post('abort', gtid, {}));
  }

  private post(step: 'prepare' | 'submit' | 'abort', gtid: string, body: unknown): Promise<unknown> {
    return callPeer(new URL(MessageTransactionRoutes[step](gtid), this.baseUrl).toString(), gtid, {
      body,
      timeoutMs: this.timeoutMs,
      headers: { authorization: this.credentials.authorization(this.server) },
      route: routeTemplate(step),
    });
  }
}

/**
 * The server's check-back. Each producer is called at the base URL the server's configuration gives for
 * its name (`MESSAGE_PRODUCERS`), looked up at every call: an address recorded with a message, or sent in
 * any request, is never used.
 */
export class HttpCheckBackClient implements CheckBackClient {
  constructor(
    /** Producer name → base URL, from the server's configuration. */
    private readonly producers: Readonly<Record<string, string>>,
    private readonly credentials: ServiceCredentials,
    private readonly timeoutMs = 10_000,
  ) {}

  async outcome(message: Pick<MessageRecord, 'gtid' | 'producer'>): Promise<MessageOutcome> {
    const base = Object.hasOwn(this.producers, message.producer)
      ? this.producers[message.producer]
      : undefined;
    if (!base) throw new PeerCallError(`no check-back address configured for producer '${message.producer}'`);
    const url = new URL(MessageTransactionRoutes.outcome(message.gtid), base).toString();
    const body = await callPeer(url, message.gtid, {
      body: {},
      timeoutMs: this.timeoutMs,
      headers: { authorization: this.credentials.authorization(message.producer) },
      route: routeTemplate('outcome'),
    });
    const outcome = isRecord(body) ? body.outcome : undefined;
    if (outcome === 'committed' || outcome === 'aborted') return outcome;
    throw new PeerCallError(`${message.producer} answered the check-back without an outcome`);
  }
}
