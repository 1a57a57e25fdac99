import type { ServiceCredentials } from '@hospital/platform';
import { type Context, context } from '@opentelemetry/api';
import { Coalescer } from '../../core/coalescer';
import { PreCommitAck, ThreePhaseParticipantClient } from '../../ports/three-phase-commit.ports';
import { CommitAck, Vote } from '../../two-phase-commit/types';
import { callPeer, isRecord, PeerCallError } from './http-json';

/**
 * The HTTP contract of 3PC between a coordinator and its participants, and between participants that
 * terminate a transaction without it: one batch route, each operation idempotent and answered on its
 * own. A batch names the coordinator its branches are filed under; a caller other than that coordinator
 * (a peer terminating) may only send PreCommit, for transactions that name it among their participants.
 */
export const ThreePhaseRoutes = { batch: '/internal/3pc/batch' };

/** An operation waiting for its batch, with the trace context of the call that made it (see the 2PC client). */
interface PendingOperation {
  op: ThreePhaseOperation;
  caller: Context;
}

export type ThreePhaseOperation =
  | { op: 'can-commit'; gtid: string; payload: unknown }
  | { op: 'pre-commit'; gtid: string; peers: string[] }
  | { op: 'do-commit'; gtid: string }
  | { op: 'abort'; gtid: string };

export interface ThreePhaseBatchBody {
  coordinator: string;
  ops: ThreePhaseOperation[];
}

/** One result per operation, in order. */
export type ThreePhaseBatchResult =
  Vote | { ack: CommitAck | PreCommitAck } | { ack: 'aborted' } | { error: string };

function parseVote(body: unknown): Vote {
  if (isRecord(body) && body.vote === 'yes') return { vote: 'yes' };
  if (isRecord(body) && body.vote === 'no')
    return { vote: 'no', reason: typeof body.reason === 'string' ? body.reason : 'refused' };
  throw new PeerCallError('CanCommit answered without a vote');
}

function parseAck<A extends string>(body: unknown, allowed: readonly A[]): A {
  const ack = isRecord(body) ? body.ack : undefined;
  if (typeof ack === 'string' && (allowed as readonly string[]).includes(ack)) return ack as A;
  throw new PeerCallError(`answered without an acknowledgement (${allowed.join(' | ')})`);
}

/**
 * Reaches one 3PC participant over HTTP. Calls made while earlier ones are in flight travel together in
 * one batch per coordinator, so under load a phase costs one message per participant for many
 * transactions.
 */
export class HttpThreePhaseClient implements ThreePhaseParticipantClient {
  private readonly batches = new Map<string, Coalescer<PendingOperation, unknown>>();

  constructor(
    readonly name: string,
    private readonly baseUrl: string,
    /** Signs this service's tokens for the participant (audience: `name`). */
    private readonly credentials: ServiceCredentials,
    private readonly timeoutMs = 10_000,
  ) {}

  async canCommit(gtid: string, coordinator: string, payload: unknown): Promise<Vote> {
    return parseVote(await this.submit(coordinator, { op: 'can-commit', gtid, payload }));
  }

  async preCommit(gtid: string, coordinator: string, peers: string[]): Promise<PreCommitAck> {
    const answer = await this.submit(coordinator, { op: 'pre-commit', gtid, peers });
    return parseAck(answer, ['precommitted', 'committed', 'aborted'] as const);
  }

  async doCommit(gtid: string, coordinator: string): Promise<CommitAck> {
    return parseAck(await this.submit(coordinator, { op: 'do-commit', gtid }), [
      'committed',
      'unknown',
    ] as const);
  }

  async abort(gtid: string, coordinator: string): Promise<void> {
    parseAck(await this.submit(coordinator, { op: 'abort', gtid }), ['aborted'] as const);
  }

  private submit(coordinator: string, op: ThreePhaseOperation): Promise<unknown> {
    let batch = this.batches.get(coordinator);
    if (!batch) {
      batch = new Coalescer((pending: PendingOperation[]) => this.send(coordinator, pending));
      this.batches.set(coordinator, batch);
    }
    return batch.submit({ op, caller: context.active() });
  }

  private async send(coordinator: string, pending: PendingOperation[]): Promise<unknown[]> {
    const ops = pending.map((p) => p.op);
    const body: ThreePhaseBatchBody = { coordinator, ops };
    const gtid = ops.length === 1 ? (ops[0]?.gtid ?? '') : `batch-of-${ops.length}`;
    const answer = await callPeer(new URL(ThreePhaseRoutes.batch, this.baseUrl).toString(), gtid, {
      body,
      timeoutMs: this.timeoutMs,
      headers: { authorization: this.credentials.authorization(this.name) },
      route: ThreePhaseRoutes.batch,
      callers: pending.map((p) => p.caller),
    });
    const results = isRecord(answer) ? answer.results : undefined;
    if (!Array.isArray(results) || results.length !== ops.length)
      throw new PeerCallError('batch answered without one result per operation');
    return results.map((r: unknown) =>
      isRecord(r) && typeof r.error === 'string' ? new PeerCallError(r.error) : r,
    );
  }
}
