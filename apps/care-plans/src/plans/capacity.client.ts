import { Inject, Injectable } from '@nestjs/common';
import { SERVICE_CONFIG, serviceCredentials, type ServiceCredentials } from '@hospital/platform';
import {
  callPeer,
  isRecord,
  PeerCallError,
  type SagaReleaseRequest,
  type TccTryRequest,
} from '@hospital/transactions';
import type { CarePlansConfig } from '../config';
import {
  type BranchRequest,
  type CapacityPort,
  type ClaimRequest,
  ParticipantRefusedError,
  type QuotaKeyRequest,
  type QuotaReservation,
} from './plan-ports';
import type { Participant } from './treatment-plan';

/** The peer (config `peers`, `<NAME>_URL`) that serves each participant's capacity. */
export const PARTICIPANT_PEERS: Record<Participant, string> = {
  appointments: 'appointments',
  pacs: 'pacs',
  pharmacy: 'pharmacy-inventory',
};

/** Whether a participant offers a resource: known, unknown, or could not be asked. */
export type ResourceLookup = 'known' | 'unknown';

/**
 * The participants' `/api/capacity` endpoints over HTTP (undici, the platform's peer pools), with this
 * service's token for each and the gtid header. Answers map as the capacity contract says: 2xx succeeds,
 * a 4xx is the participant's business refusal (ParticipantRefusedError), a 5xx, a refused connection or no
 * answer within CARE_PLAN_CALL_TIMEOUT_MS is transient (PeerCallError, retried by the engines).
 */
@Injectable()
export class CapacityClient implements CapacityPort {
  private readonly timeoutMs: number;
  private readonly cacheMs: number;
  private readonly credentials: ServiceCredentials;
  private readonly bases: Record<Participant, string>;
  /** Resources a participant said it offers, until when that is trusted. */
  private readonly known = new Map<string, number>();

  constructor(@Inject(SERVICE_CONFIG) config: CarePlansConfig) {
    this.timeoutMs = config.env.CARE_PLAN_CALL_TIMEOUT_MS;
    this.cacheMs = config.env.CAPACITY_RESOURCE_CACHE_MS;
    this.credentials = serviceCredentials(config);
    this.bases = {
      appointments: peerUrl(config, PARTICIPANT_PEERS.appointments),
      pacs: peerUrl(config, PARTICIPANT_PEERS.pacs),
      pharmacy: peerUrl(config, PARTICIPANT_PEERS.pharmacy),
    };
  }

  /**
   * Whether `participant` offers `resource` (`GET /api/capacity/resources/:resource`): a 404 (or a 400, an
   * id of a kind it does not offer) is `unknown`; a known resource is remembered for
   * CAPACITY_RESOURCE_CACHE_MS. Throws PeerCallError when the participant could not answer.
   */
  async lookup(participant: Participant, resource: string): Promise<ResourceLookup> {
    const cacheKey = `${participant}|${resource}`;
    const until = this.known.get(cacheKey);
    if (until !== undefined && until > Date.now()) return 'known';
    try {
      await this.call(participant, 'GET', `/api/capacity/resources/${encodeURIComponent(resource)}`);
    } catch (error) {
      if (error instanceof ParticipantRefusedError && (error.status === 404 || error.status === 400))
        return 'unknown';
      throw error;
    }
    if (this.cacheMs > 0) this.known.set(cacheKey, Date.now() + this.cacheMs);
    return 'known';
  }

  async sagaApply(participant: Participant, request: ClaimRequest): Promise<void> {
    await this.call(participant, 'POST', '/api/capacity/saga/apply', request, request.gtid);
  }

  async sagaRelease(participant: Participant, request: SagaReleaseRequest): Promise<void> {
    await this.call(participant, 'POST', '/api/capacity/saga/release', request, request.gtid);
  }

  async quotaReserve(participant: Participant, request: ClaimRequest): Promise<QuotaReservation> {
    const answer = await this.call(participant, 'POST', '/api/capacity/quota/reserve', request, request.gtid);
    const epoch = isRecord(answer) ? answer.epoch : undefined;
    if (typeof epoch !== 'string' || epoch === '')
      throw new PeerCallError(`${participant} answered a quota reservation without its epoch`);
    return { key: request.key, resource: request.resource, units: request.units, epoch };
  }

  async quotaRelease(participant: Participant, { key, gtid, resource }: QuotaKeyRequest): Promise<void> {
    await this.call(participant, 'POST', '/api/capacity/quota/release', { key, resource }, gtid);
  }

  async quotaHold(participant: Participant, { key, gtid, resource }: QuotaKeyRequest): Promise<void> {
    await this.call(participant, 'POST', '/api/capacity/quota/hold', { key, resource }, gtid);
  }

  async tccTry(participant: Participant, request: TccTryRequest): Promise<void> {
    await this.call(participant, 'POST', '/api/capacity/tcc/try', request, request.gtid);
  }

  async tccConfirm(participant: Participant, request: BranchRequest): Promise<void> {
    await this.call(participant, 'POST', '/api/capacity/tcc/confirm', request, request.gtid);
  }

  async tccCancel(participant: Participant, request: BranchRequest): Promise<void> {
    await this.call(participant, 'POST', '/api/capacity/tcc/cancel', request, request.gtid);
  }

  private async call(
    participant: Participant,
    method: 'GET' | 'POST',
    path: string,
    body?: unknown,
    gtid?: string,
  ): Promise<unknown> {
    try {
      return await callPeer(`${this.bases[participant]}${path}`, gtid, {
        method,
        ...(body === undefined ? {} : { body }),
        timeoutMs: this.timeoutMs,
        headers: { authorization: this.credentials.authorization(PARTICIPANT_PEERS[participant]) },
      });
    } catch (error) {
      if (error instanceof PeerCallError && error.status !== undefined && isRefusal(error.status))
        throw new ParticipantRefusedError(
          participant,
          error.status,
          `${participant} refused ${path} (${error.status})`,
        );
      throw error;
    }
  }
}

/** A 4xx other than 408 (a time-out) and 429 (too many requests): the participant said no. */
function isRefusal(status: number): boolean {
  return status >= 400 && status < 500 && status !== 408 && status !== 429;
}

function peerUrl(config: CarePlansConfig, peer: string): string {
  const url = config.peers[peer];
  if (url === undefined) throw new Error(`no URL configured for ${peer}`);
  return url.replace(/\/+$/, '');
}
