import { Inject, Injectable } from '@nestjs/common';
import type { Resource } from '@medplum/fhirtypes';
import {
  FhirErrorCode,
  FhirException,
  FhirResourceStore,
  FhirUpdateContext,
  FhirUpdateResult,
  FhirWriteContext,
  FhirWriteResult,
  FhirWriter,
  ParsedTransaction,
  SearchRequest,
  Stored,
  TransactionResult,
} from '@hospital/fhir';
import { Database, withGtid } from '@hospital/platform';
import { RecordRequestPlanner } from './record-request.planner';
import { RecordUpdateResult, RecordUpdateService } from './record-update.service';

/**
 * The EMR's FHIR write path. Writes that other systems must see — patients (demographics) and orders —
 * go through the record update, committed by two-phase commit in the EMR, the LIS and the PACS; records
 * only the EMR keeps (encounters, practitioners) are local transactions.
 */
@Injectable()
export class EmrFhirWriter implements FhirWriter {
  /** The conditional creates of patients and orders, one after another (see `createIfNoneExist`). */
  private conditionalCommits: Promise<unknown> = Promise.resolve();

  constructor(
    @Inject(Database) private readonly db: Database,
    @Inject(FhirResourceStore) private readonly store: FhirResourceStore,
    @Inject(RecordRequestPlanner) private readonly planner: RecordRequestPlanner,
    @Inject(RecordUpdateService) private readonly records: RecordUpdateService,
  ) {}

  async create(resource: Resource, context: FhirWriteContext): Promise<Stored<Resource>> {
    switch (resource.resourceType) {
      case 'Patient':
        return (await this.commit(await this.planner.fromPatientCreate(resource, context.correlationId)))
          .patient;
      case 'ServiceRequest': {
        const result = await this.commit(await this.planner.fromOrderCreate(resource, context.correlationId));
        return result.orders[0];
      }
      default:
        return this.db.transaction(async (tx) => {
          await this.store.assertReferencesExist(tx, resource, ['Patient', 'Practitioner', 'Encounter']);
          return this.store.create(tx, resource);
        });
    }
  }

  /**
   * `If-None-Exist` without a window. Local records: check and create in one transaction under the
   * condition's lock. Patients and orders commit by two-phase commit on other connections, so the lock
   * is held by a transaction that stays open until that commit is done: a concurrent retry waits for it,
   * then finds the record. Those run one at a time in this process, so they hold at most one of the
   * pool's connections while their 2PC needs others.
   */
  async createIfNoneExist(
    resource: Resource,
    condition: SearchRequest,
    context: FhirWriteContext,
  ): Promise<FhirWriteResult<Resource>> {
    if (resource.resourceType !== 'Patient' && resource.resourceType !== 'ServiceRequest') {
      return this.db.transaction(async (tx) => {
        await this.store.assertReferencesExist(tx, resource, ['Patient', 'Practitioner', 'Encounter']);
        return this.store.createIfNoneExist(tx, resource, condition);
      });
    }
    const turn = this.conditionalCommits.then(() =>
      this.db.transaction(async (tx): Promise<FhirWriteResult<Resource>> => {
        await this.store.lockConditionalCreate(tx, condition);
        const existing = await this.store.findConditionalMatch(tx, condition);
        if (existing !== undefined) return { resource: existing, created: false, changed: false };
        return { resource: await this.create(resource, context), created: true, changed: true };
      }),
    );
    this.conditionalCommits = turn.catch(() => undefined);
    return turn;
  }

  async update(resource: Resource & { id: string }, context: FhirUpdateContext): Promise<FhirUpdateResult> {
    if (resource.resourceType !== 'Patient') {
      throw new FhirException(
        FhirErrorCode.MethodNotAllowed,
        `${resource.resourceType} records are not updated here`,
      );
    }
    const update = await this.planner.fromPatientUpdate(resource, context.ifMatch, context.correlationId);
    const result = await this.commit(update);
    return { resource: result.patient, created: result.patientCreated };
  }

  async transaction(transaction: ParsedTransaction, context: FhirWriteContext): Promise<TransactionResult[]> {
    const result = await this.commit(await this.planner.fromTransaction(transaction, context.correlationId));
    const stored = new Map<string, { resource: Stored<Resource>; created: boolean }>([
      [`Patient/${result.patient.id}`, { resource: result.patient, created: result.patientCreated }],
      ...[...result.encounters, ...result.orders].map(
        (r) => [`${r.resourceType}/${r.id}`, { resource: r, created: true }] as const,
      ),
    ]);
    return transaction.entries.map((entry) => {
      const found = stored.get(`${entry.resourceType}/${entry.id}`);
      if (!found) throw new Error(`transaction entry ${entry.resourceType}/${entry.id} has no result`);
      return found;
    });
  }

  private commit(update: Parameters<RecordUpdateService['commit']>[0]): Promise<RecordUpdateResult> {
    return withGtid(update.gtid, () => this.records.commit(update));
  }
}
