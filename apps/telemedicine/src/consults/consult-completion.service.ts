import { randomUUID } from 'node:crypto';
import { Inject, Injectable } from '@nestjs/common';
import type {
  Encounter,
  Organization,
  Patient,
  Practitioner,
  Reference,
  ServiceRequest,
} from '@medplum/fhirtypes';
import {
  FhirErrorCode,
  FhirException,
  FhirResourceStore,
  FhirValidator,
  parseConsultFindingsPayload,
  referencedId,
  SearchParameterRegistry,
  type Stored,
} from '@hospital/fhir';
import { Database, SERVICE_CONFIG, withGtid } from '@hospital/platform';
import { newGtid, OutcomeUnknownError, TransactionAbortedError } from '@hospital/transactions';
import type { TelemedicineConfig } from '../config';
import { parseRecommendationPayload } from '../contracts/recommendation.contract';
import { isVirtualClass, ref } from './consult-codes';
import { CONSULT_COMMIT, type ConsultCommit } from './consult-commit.port';
import { planConsultCompletion, type ConsultCompletionPlan } from './consult-completion.plan';
import { parseConsultCompletion } from './consult-completion.request';
import { parseConsultRecordPayload } from './consult-record.branch';
import { ConsultsErrorCode, ConsultsException } from './consults.exception';

/** Session states that are over: a completion never finishes one of them again. */
const CLOSED_SESSION: readonly string[] = ['finished', 'cancelled', 'entered-in-error'];
/** Read failures that mean a named session is not there. */
const MISSING: readonly FhirErrorCode[] = [FhirErrorCode.NotFound, FhirErrorCode.Gone];

/**
 * Completes a consult: validates the expert's completion against the stored request and its virtual
 * session (every refusal a 4xx before anything is written), plans the three branches under ids and a gtid
 * it mints, checks each branch's payload as its participant will, then commits them through the
 * `CONSULT_COMMIT` port, all or nothing.
 */
@Injectable()
export class ConsultCompletionService {
  constructor(
    @Inject(Database) private readonly db: Database,
    @Inject(FhirResourceStore) private readonly store: FhirResourceStore,
    @Inject(FhirValidator) private readonly validator: FhirValidator,
    @Inject(SearchParameterRegistry) private readonly registry: SearchParameterRegistry,
    @Inject(CONSULT_COMMIT) private readonly consultCommit: ConsultCommit,
    @Inject(SERVICE_CONFIG) private readonly config: TelemedicineConfig,
  ) {}

  /**
   * Validates a completion and plans it under a gtid minted here: every branch's payload checked as its
   * participant will check it. Nothing is written.
   */
  async plan(serviceRequestId: string, body: unknown): Promise<ConsultCompletionPlan> {
    const request = parseConsultCompletion(this.validator, body, this.config.env.CONSULT_TEXT_MAX_CHARS);
    const serviceRequest = await this.store.read<ServiceRequest>(this.db, 'ServiceRequest', serviceRequestId);
    const people = this.consultPeople(serviceRequest);
    const encounter = await this.openSession(serviceRequest, request.sessionId);
    const plan = planConsultCompletion({
      serviceRequest,
      encounter,
      request,
      ...people,
      gtid: newGtid(),
      diagnosticReportId: randomUUID(),
      communicationId: randomUUID(),
      now: new Date().toISOString(),
    });
    this.checkBranches(plan);
    return plan;
  }

  /** The request must be active and name its patient, referring site and expert. */
  private consultPeople(sr: Stored<ServiceRequest>): {
    patient: Reference<Patient>;
    requester: Reference<Organization>;
    expert: Reference<Practitioner>;
  } {
    if (sr.status !== 'active') {
      throw new ConsultsException(
        ConsultsErrorCode.RequestNotActive,
        `ServiceRequest/${sr.id} is ${sr.status}: only an active consult request can be completed`,
      );
    }
    const missing = (element: string): ConsultsException =>
      new ConsultsException(
        ConsultsErrorCode.RequestIncomplete,
        `ServiceRequest/${sr.id} has no ${element}: a consult completion needs it`,
        [`ServiceRequest.${element}`],
      );
    const patientId = referencedId(sr.subject, 'Patient');
    const requesterId = referencedId(sr.requester, 'Organization');
    const expertId = referencedId(sr.performer?.[0], 'Practitioner');
    if (patientId === undefined) throw missing('subject');
    if (requesterId === undefined) throw missing('requester');
    if (expertId === undefined) throw missing('performer');
    return {
      patient: ref<Patient>('Patient', patientId),
      requester: ref<Organization>('Organization', requesterId),
      expert: ref<Practitioner>('Practitioner', expertId),
    };
  }

  /** The virtual session to finish: the one named, or the request's only open one. */
  private async openSession(
    sr: Stored<ServiceRequest>,
    sessionId: string | undefined,
  ): Promise<Stored<Encounter>> {
    const basedOn = (e: Encounter): boolean =>
      (e.basedOn ?? []).some((b) => referencedId(b, 'ServiceRequest') === sr.id);
    const open = (e: Encounter): boolean =>
      isVirtualClass(e.class) && basedOn(e) && !CLOSED_SESSION.includes(e.status);
    if (sessionId !== undefined) {
      const named = await this.store
        .read<Encounter>(this.db, 'Encounter', sessionId)
        .catch((error: unknown) => {
          if (error instanceof FhirException && MISSING.includes(error.code)) return undefined;
          throw error;
        });
      if (named === undefined || !open(named)) {
        throw new ConsultsException(
          ConsultsErrorCode.SessionNotFound,
          `Encounter/${sessionId} is not an open virtual session of ServiceRequest/${sr.id}`,
          ['session'],
        );
      }
      return named;
    }
    const search = this.registry.parseSearch('Encounter', {
      'based-on': `ServiceRequest/${sr.id}`,
      _count: '100',
    });
    const sessions = (await this.store.search<Encounter>(this.db, search)).resources.filter(open);
    if (sessions.length === 1) return sessions[0];
    if (sessions.length === 0) {
      throw new ConsultsException(
        ConsultsErrorCode.SessionNotFound,
        `ServiceRequest/${sr.id} has no open virtual session (Encounter of class VR based on it)`,
      );
    }
    throw new ConsultsException(
      ConsultsErrorCode.InvalidCompletion,
      `ServiceRequest/${sr.id} has ${sessions.length} open virtual sessions: name one with the session parameter`,
      ['session'],
    );
  }

  /**
   * Each branch's payload validated as its participant will validate it, so a completion that a
   * participant would refuse (a code the R4 definitions reject…) is a 400 here and starts no transaction.
   */
  private checkBranches(plan: ConsultCompletionPlan): void {
    for (const branch of plan.branches) {
      switch (branch.participant) {
        case 'emr':
          parseConsultFindingsPayload(this.validator, branch.payload);
          break;
        case 'telemedicine':
          parseConsultRecordPayload(this.validator, branch.payload);
          break;
        case 'referral-inbox':
          parseRecommendationPayload(this.validator, branch.payload);
          break;
      }
    }
  }

  /** Commits a planned completion in every participant, all or nothing; its log lines carry the gtid. */
  commit(plan: ConsultCompletionPlan, correlationId: string | undefined): Promise<void> {
    return withGtid(plan.gtid, () => this.commitPlanned(plan, correlationId));
  }

  private async commitPlanned(plan: ConsultCompletionPlan, correlationId: string | undefined): Promise<void> {
    try {
      await this.consultCommit.commit(plan.gtid, plan.branches, correlationId);
    } catch (error) {
      // The protocol's outcome, told in the consult's own terms (not a transport mapping).
      if (error instanceof TransactionAbortedError) {
        throw new ConsultsException(
          ConsultsErrorCode.NotCommitted,
          `Consult completion ${plan.gtid} of ServiceRequest/${plan.serviceRequest.id} was not committed anywhere: ${error.reasons.join('; ')}`,
        );
      }
      if (error instanceof OutcomeUnknownError) {
        throw new ConsultsException(
          ConsultsErrorCode.OutcomeUnknown,
          `The outcome of consult completion ${plan.gtid} is not known yet; read ServiceRequest/${plan.serviceRequest.id} before sending it again`,
        );
      }
      throw error;
    }
  }
}
