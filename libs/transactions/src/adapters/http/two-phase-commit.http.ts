import type { ServiceCredentials } from '@hospital/platform';
import { type Context, context } from '@opentelemetry/api';
import { CoordinatorClient, ParticipantClient } from '../../ports/two-phase-commit.ports';
import { CommitAck, Decision, Vote } from '../../two-phase-commit/types';
import { Coalescer } from '../../core/coalescer';
import { callPeer, isRecord, PeerCallError } from './http-json';

/**
 * The HTTP contract between a 2PC coordinator and its participants. Paths are relative to a service's
 * base URL; every call carries the gtid in the `x-gtid` header as well as in the path, and a service token
 * for the service called (`Authorization: Bearer`, see `@hospital/platform` `service-token.ts`). Every
 * route is a POST: the outcome inquiry too, since it records an ABORT when there is no decision.
 */
export const TwoPhaseRoutes = {
  prepare: (gtid: string) => `/internal/2pc/${encodeURIComponent(gtid)}/prepare`,
  commit: (gtid: string) => `/internal/2pc/${encodeURIComponent(gtid)}/commit`,
  abort: (gtid: string) => `/internal/2pc/${encodeURIComponent(gtid)}/abort`,
  outcome: (gtid: string) => `/internal/2pc/${encodeURIComponent(gtid)}/outcome`,
  /** Several operations of one coordinator in one request (see BatchRequestBody). */
  batch: '/internal/2pc/batch',
};

/** The route templates of `TwoPhaseRoutes`, naming the calls' trace spans. */
const OUTCOME_ROUTE = '/internal/2pc/:gtid/outcome';

/** An operation waiting for its batch, with the trace context of the call that made it. */
interface PendingOperation {
  op: BatchOperation;
  caller: Context;
}

export interface PrepareRequestBody {
  coordinator: string;
  payload: unknown;
}

/** One operation of a batch. Each is idempotent and answered on its own. */
export type BatchOperation =
  | { op: 'prepare'; gtid: string; payload: unknown }
  | { op: 'commit'; gtid: string }
  | { op: 'abort'; gtid: string };

export interface BatchRequestBody {
  coordinator: string;
  ops: BatchOperation[];
}

/** One result per operation, in order: a vote, an acknowledgement, or the error that operation met. */
export type BatchResult = Vote | { ack: CommitAck | 'aborted' } | { error: string };

/**
 * An operation with the trace context it was asked in: a batch may leave later, from another call's
 * continuation, and its span must still belong to the transactions it carries.
 */
const pendingOf = (op: BatchOperation): PendingOperation => ({ op, caller: context.active() });

function parseVote(body: unknown): Vote {
  if (isRecord(body) && body.vote === 'yes') return { vote: 'yes' };
  if (isRecord(body) && body.vote === 'no')
    return { vote: 'no', reason: typeof body.reason === 'string' ? body.reason : 'refused' };
  throw new PeerCallError('prepare answered without a vote');
}

function parseAck(body: unknown): CommitAck | 'aborted' {
  if (isRecord(body) && (body.ack === 'committed' || body.ack === 'unknown' || body.ack === 'aborted'))
    return body.ack;
  throw new PeerCallError('answered without an acknowledgement');
}

/**
 * Reaches one participant service over HTTP. Calls made while earlier ones are in flight travel together
 * in one batch request, so under load a phase costs one message per participant for many transactions.
 */
export class HttpParticipantClient implements ParticipantClient {
  private readonly prepares: Coalescer<PendingOperation, unknown>;
  private readonly decisions: Coalescer<PendingOperation, unknown>;

  constructor(
    readonly name: string,
    private readonly baseUrl: string,
    /** The coordinator's own name: participants file branches under it and ask it about them. */
    private readonly coordinator: string,
    /** Signs the coordinator's tokens for this participant (audience: `name`). */
    private readonly credentials: ServiceCredentials,
    private readonly timeoutMs = 10_000,
  ) {
    const send = (pending: PendingOperation[]) => this.sendBatch(pending);
    this.prepares = new Coalescer(send);
    this.decisions = new Coalescer(send);
  }

  async prepare(gtid: string, coordinator: string, payload: unknown): Promise<Vote> {
    if (coordinator !== this.coordinator)
      throw new Error(`client of ${this.coordinator} asked to prepare for ${coordinator}`);
    return parseVote(await this.prepares.submit(pendingOf({ op: 'prepare', gtid, payload })));
  }

  async commit(gtid: string): Promise<CommitAck> {
    const ack = parseAck(await this.decisions.submit(pendingOf({ op: 'commit', gtid })));
    if (ack === 'aborted') throw new PeerCallError('commit answered as an abort');
    return ack;
  }

  async abort(gtid: string): Promise<void> {
    parseAck(await this.decisions.submit(pendingOf({ op: 'abort', gtid })));
  }

  private async sendBatch(pending: PendingOperation[]): Promise<unknown[]> {
    const ops = pending.map((p) => p.op);
    const body: BatchRequestBody = { coordinator: this.coordinator, ops };
    const gtid = ops.length === 1 ? (ops[0]?.gtid ?? '') : `batch-of-${ops.length}`;
    const answer = await callPeer(new URL(TwoPhaseRoutes.batch, this.baseUrl).toString(), gtid, {
      body,
      timeoutMs: this.timeoutMs,
      headers: { authorization: this.credentials.authorization(this.name) },
      route: TwoPhaseRoutes.batch,
      callers: pending.map((p) => p.caller),
    });
    const results = isRecord(answer) ? answer.results : undefined;
    if (!Array.isArray(results) || results.length !== ops.length) {
      throw new PeerCallError('batch answered without one result per operation');
    }
    return results.map((r: unknown) =>
      isRecord(r) && typeof r.error === 'string' ? new PeerCallError(r.error) : r,
    );
  }
}

/** Asks coordinators, by service name, for the outcome of an in-doubt branch. */
export class HttpCoordinatorClient implements CoordinatorClient {
  constructor(
    private readonly peers: Record<string, string>,
    /** Signs the participant's tokens for each coordinator (audience: the coordinator's name). */
    private readonly credentials: ServiceCredentials,
    private readonly timeoutMs = 10_000,
  ) {}

  async outcome(coordinator: string, gtid: string): Promise<Decision> {
    const base = Object.hasOwn(this.peers, coordinator) ? this.peers[coordinator] : undefined;
    if (!base) throw new Error(`no address configured for coordinator '${coordinator}'`);
    const body = await callPeer(new URL(TwoPhaseRoutes.outcome(gtid), base).toString(), gtid, {
      body: {},
      timeoutMs: this.timeoutMs,
      headers: { authorization: this.credentials.authorization(coordinator) },
      route: OUTCOME_ROUTE,
    });
    if (isRecord(body) && (body.decision === 'commit' || body.decision === 'abort')) return body.decision;
    throw new PeerCallError('outcome answered without a decision');
  }
}
