import { Inject, Injectable } from '@nestjs/common';
import { SERVICE_CONFIG, serviceCredentials, type ServiceCredentials } from '@hospital/platform';
import { callPeer, PeerCallError } from '@hospital/transactions';
import type { CarePlansConfig } from '../config';

/** The EMR's peer name (`EMR_URL`), and the audience of this service's tokens for it. */
export const EMR_PEER = 'emr';

/** The kinds of people a care team names, as the EMR's FHIR resources. */
export type PersonType = 'Patient' | 'Practitioner';

/**
 * Asks the EMR's FHIR API whether people exist (`GET <EMR_URL>/fhir/<type>/<id>`) over undici, with this
 * service's token: 200 is known, 404 or 410 (deleted) unknown; anything else (5xx, no answer within
 * CARE_PLAN_CALL_TIMEOUT_MS) throws PeerCallError. The answer's body (patient data) is read and dropped.
 */
@Injectable()
export class EmrDirectory {
  private readonly base: string;
  private readonly timeoutMs: number;
  private readonly credentials: ServiceCredentials;

  constructor(@Inject(SERVICE_CONFIG) config: CarePlansConfig) {
    const base = config.peers[EMR_PEER];
    if (base === undefined) throw new Error('no URL configured for the EMR');
    this.base = base.replace(/\/+$/, '');
    this.timeoutMs = config.env.CARE_PLAN_CALL_TIMEOUT_MS;
    this.credentials = serviceCredentials(config);
  }

  async exists(type: PersonType, id: string): Promise<boolean> {
    try {
      await callPeer(`${this.base}/fhir/${type}/${encodeURIComponent(id)}`, undefined, {
        method: 'GET',
        timeoutMs: this.timeoutMs,
        headers: { accept: 'application/fhir+json', authorization: this.credentials.authorization(EMR_PEER) },
      });
      return true;
    } catch (error) {
      if (error instanceof PeerCallError && (error.status === 404 || error.status === 410)) return false;
      throw error;
    }
  }
}
