import { CoordinatorClient, ParticipantClient } from '../../ports/two-phase-commit.ports';
import { CommitAck, Decision, Vote } from '../../two-phase-commit/types';
import { callPeer, isRecord, PeerCallError } from './http-json';

/**
 * The HTTP contract between a 2PC coordinator and its participants. Paths are relative to a service's
 * base URL; every call carries the gtid in the `x-gtid` header as well as in the path.
 */
export const TwoPhaseRoutes = {
  prepare: (gtid: string) => `/internal/2pc/${encodeURIComponent(gtid)}/prepare`,
  commit: (gtid: string) => `/internal/2pc/${encodeURIComponent(gtid)}/commit`,
  abort: (gtid: string) => `/internal/2pc/${encodeURIComponent(gtid)}/abort`,
  outcome: (gtid: string) => `/internal/2pc/${encodeURIComponent(gtid)}/outcome`,
};

export interface PrepareRequestBody {
  coordinator: string;
  payload: unknown;
}

function parseVote(body: unknown): Vote {
  if (isRecord(body) && body.vote === 'yes') return { vote: 'yes' };
  if (isRecord(body) && body.vote === 'no')
    return { vote: 'no', reason: typeof body.reason === 'string' ? body.reason : 'refused' };
  throw new PeerCallError('prepare answered without a vote');
}

/** Reaches one participant service over HTTP. */
export class HttpParticipantClient implements ParticipantClient {
  constructor(
    readonly name: string,
    private readonly baseUrl: string,
    /** The coordinator's own name, sent with commit and abort so the participant finds its branch directly. */
    private readonly coordinator: string,
    private readonly timeoutMs = 10_000,
  ) {}

  async prepare(gtid: string, coordinator: string, payload: unknown): Promise<Vote> {
    const body: PrepareRequestBody = { coordinator, payload };
    return parseVote(
      await callPeer(this.url(TwoPhaseRoutes.prepare(gtid)), gtid, { body, timeoutMs: this.timeoutMs }),
    );
  }

  async commit(gtid: string): Promise<CommitAck> {
    const body = await callPeer(this.url(TwoPhaseRoutes.commit(gtid)), gtid, {
      body: { coordinator: this.coordinator },
      timeoutMs: this.timeoutMs,
    });
    if (isRecord(body) && (body.ack === 'committed' || body.ack === 'unknown')) return body.ack;
    throw new PeerCallError('commit answered without an acknowledgement');
  }

  async abort(gtid: string): Promise<void> {
    await callPeer(this.url(TwoPhaseRoutes.abort(gtid)), gtid, {
      body: { coordinator: this.coordinator },
      timeoutMs: this.timeoutMs,
    });
  }

  private url(path: string): string {
    return new URL(path, this.baseUrl).toString();
  }
}

/** Asks coordinators, by service name, for the outcome of an in-doubt branch. */
export class HttpCoordinatorClient implements CoordinatorClient {
  constructor(
    private readonly peers: Record<string, string>,
    private readonly timeoutMs = 10_000,
  ) {}

  async outcome(coordinator: string, gtid: string): Promise<Decision> {
    const base = this.peers[coordinator];
    if (!base) throw new Error(`no address configured for coordinator '${coordinator}'`);
    const body = await callPeer(new URL(TwoPhaseRoutes.outcome(gtid), base).toString(), gtid, {
      method: 'GET',
      timeoutMs: this.timeoutMs,
    });
    if (isRecord(body) && (body.decision === 'commit' || body.decision === 'abort')) return body.decision;
    throw new PeerCallError('outcome answered without a decision');
  }
}
