import { randomUUID } from 'node:crypto';
import { Inject, Injectable } from '@nestjs/common';
import type { Flag, Observation, RiskAssessment } from '@medplum/fhirtypes';
import type { Logger } from 'pino';
import { FhirResourceStore, type Stored } from '@hospital/fhir';
import {
  Database,
  environmentOf,
  GroupCommit,
  type GroupOutcome,
  ROOT_LOGGER,
  SERVICE_CONFIG,
  type ServiceConfig,
  type Session,
} from '@hospital/platform';
import type { Bed } from '../beds/beds.repository';
import { BedsService } from '../beds/beds.service';
import { IcuMonitorEnvironment } from '../config';
import { news2, type Spo2Scale } from '../news2/news2';
import { AlertNotifier, type AlertRecorded } from './alert-notifier';
import {
  ALERT_LEVELS,
  asOfLatest,
  closedFlagOf,
  levelsCalledFor,
  news2VitalsOf,
  openFlagOf,
  riskAssessmentOf,
  scoreChanged,
  type LatestVital,
} from './news2-assessment';
import { type Vital, vitalOf } from './vital-mapping';
import { VitalErrorCode, VitalException } from './vitals.exception';
import { type News2State, VitalsRepository } from './vitals.repository';

/** A vital on its way into a group: the Observation as received and what was read from it. */
interface Submitted {
  observation: Observation;
  vital: Vital;
  /** `system|value` of the reading's identifier, when a vital already stored under it is not stored again. */
  readingKey?: string;
}

/** A patient's rows as a group works on them: loaded once, changed in memory vital by vital, saved once. */
interface PatientWork {
  latest: LatestVital[];
  state: News2State | undefined;
  /** The parameters whose latest reading this group replaced, and whether the score changed. */
  replaced: Set<LatestVital['parameter']>;
  scored: boolean;
}

/** A group's place in the order of bed locking: `ready` once the group before holds its locks. */
interface LockTurn {
  ready: Promise<void>;
  release(): void;
}

/** What a group writes besides its Observations, in the order it decided it. */
interface GroupWrites {
  creates: { resource: RiskAssessment | Flag; id: string }[];
  closes: { flagId: string; asOf: Date }[];
  alerts: AlertRecorded[];
}

/**
 * Records vital signs and keeps each patient's NEWS2 score. Vitals are written by group commit: those that
 * arrive while earlier groups are being written share the next local transaction, which takes the rows of
 * their beds in one ordered lock (one patient's vitals are scored one after another, whatever their number
 * or source, and two groups cannot deadlock), checks each against its bed's admission, stores the
 * Observations in one statement, and scores them in arrival order against the patient's latest readings —
 * writing, for each change of score, a RiskAssessment, the Flags the escalation opens or closes, and their
 * notifications. A refused vital writes nothing and does not hold back the others of its group; a group
 * that fails as a whole is written again vital by vital (`GroupCommit`).
 */
@Injectable()
export class VitalsService {
  private readonly maxSkewMs: number;
  private readonly groups: GroupCommit<Submitted, Stored<Observation>>;
  private lockTurn: Promise<void> = Promise.resolve();

  constructor(
    @Inject(Database) private readonly db: Database,
    @Inject(FhirResourceStore) private readonly store: FhirResourceStore,
    @Inject(BedsService) private readonly beds: BedsService,
    @Inject(VitalsRepository) private readonly repository: VitalsRepository,
    @Inject(AlertNotifier) private readonly notifier: AlertNotifier,
    @Inject(SERVICE_CONFIG) config: ServiceConfig,
    @Inject(ROOT_LOGGER) private readonly logger: Logger,
  ) {
    const settings = environmentOf(config, IcuMonitorEnvironment);
    this.maxSkewMs = settings.VITALS_MAX_CLOCK_SKEW_MS;
    this.groups = new GroupCommit({
      run: (items) => this.recordGroup(items),
      maxItems: settings.VITALS_GROUP_MAX,
      maxGroups: settings.VITALS_GROUP_SESSIONS,
    });
  }

  /**
   * Stores a vital-sign Observation (valid FHIR R4) and scores it; a VitalException when refused. With
   * `once` (a feed that delivers at least once), a vital whose first `identifier` is already held by a
   * stored Observation is that one: answered with it, nothing written or scored again.
   */
  async record(observation: Observation, options: { once?: boolean } = {}): Promise<Stored<Observation>> {
    const vital = vitalOf(observation, new Date(), this.maxSkewMs);
    const identifier = observation.identifier?.[0];
    const readingKey =
      options.once === true && identifier?.value !== undefined
        ? `${identifier.system ?? ''}|${identifier.value}`
        : undefined;
    return this.groups.submit({ observation, vital, readingKey });
  }

  private async recordGroup(items: readonly Submitted[]): Promise<GroupOutcome<Stored<Observation>>[]> {
    const turn = this.takeLockTurn();
    let recorded: Awaited<ReturnType<VitalsService['recordIn']>>;
    try {
      recorded = await this.db.transaction((tx) => this.recordIn(tx, items, turn));
    } finally {
      turn.release();
    }
    const { outcomes, alerts } = recorded;
    if (alerts.length > 0) this.notifier.committed();
    for (const alert of alerts) {
      // Ids and the level only: the patient stays out of the log.
      this.logger.info(
        { flagId: alert.flagId, level: alert.level, bedId: alert.bedId, assessmentId: alert.assessmentId },
        `NEWS2 ${alert.level} alert ${alert.transition}`,
      );
    }
    return outcomes;
  }

  /**
   * Groups lock their beds in the order they were formed (and so their vitals arrived): a group waits for
   * the one before it to hold its locks, so a patient's vitals in two groups at once are still scored in
   * arrival order.
   */
  private takeLockTurn(): LockTurn {
    const ready = this.lockTurn;
    let release!: () => void;
    this.lockTurn = new Promise<void>((resolve) => (release = resolve));
    return { ready, release };
  }

  private async recordIn(
    tx: Session,
    items: readonly Submitted[],
    turn: LockTurn,
  ): Promise<{ outcomes: GroupOutcome<Stored<Observation>>[]; alerts: AlertRecorded[] }> {
    await turn.ready;
    const locked = await this.beds.findManyLocked(tx, [...new Set(items.map((i) => i.vital.bedId))]);
    turn.release();
    const beds = new Map(locked.map((b) => [b.bedId, b]));
    const outcomes: GroupOutcome<Stored<Observation>>[] = items.map(({ vital }) => {
      const refusal = admissionRefusal(beds.get(vital.bedId), vital);
      return refusal === undefined ? { value: undefined as never } : { error: refusal };
    });
    const admitted = items.flatMap((item, i) => ('error' in outcomes[i] ? [] : [{ item, i }]));
    // A reading already stored (by an earlier group, or earlier in this one) is answered with that one.
    const held = await this.storedReadings(
      tx,
      admitted.map(({ item }) => item),
    );
    const first = new Map<string, number>();
    const again: { i: number; of: number }[] = [];
    const accepted = admitted.filter(({ item, i }) => {
      const key = item.readingKey;
      if (key === undefined) return true;
      const stored = held.get(key);
      if (stored !== undefined) {
        outcomes[i] = { value: stored };
        return false;
      }
      const of = first.get(key);
      if (of !== undefined) {
        again.push({ i, of });
        return false;
      }
      first.set(key, i);
      return true;
    });
    if (accepted.length === 0) return { outcomes, alerts: [] };

    const stored = await this.store.createMany(
      tx,
      accepted.map(({ item }) => ({ resource: item.observation })),
    );
    accepted.forEach(({ i }, k) => (outcomes[i] = { value: stored[k] }));
    for (const { i, of } of again) outcomes[i] = outcomes[of];

    const patients = await this.loadPatients(tx, [
      ...new Set(accepted.map(({ item }) => item.vital.patientId)),
    ]);
    const writes: GroupWrites = { creates: [], closes: [], alerts: [] };
    accepted.forEach(({ item }, k) => {
      const { vital } = item;
      const scale = beds.get(vital.bedId)!.admission!.spo2Scale;
      this.score(patients.get(vital.patientId)!, vital, stored[k].id, scale, writes);
    });

    await this.store.createMany(tx, writes.creates);
    for (const { flagId, asOf } of writes.closes) {
      const flag = await this.store.read<Flag>(tx, 'Flag', flagId);
      await this.store.update(tx, closedFlagOf(flag, asOf));
    }
    const worked = [...patients];
    await this.repository.saveLatestMany(
      tx,
      worked.flatMap(([patientId, work]) =>
        work.latest.filter((l) => work.replaced.has(l.parameter)).map((vital) => ({ patientId, vital })),
      ),
    );
    await this.repository.saveStateMany(
      tx,
      worked.flatMap(([patientId, { scored, state }]) =>
        scored && state !== undefined ? [{ patientId, state }] : [],
      ),
    );
    if (writes.alerts.length > 0) await this.notifier.notify(tx, writes.alerts);
    return { outcomes, alerts: writes.alerts };
  }

  /** The stored Observations holding the reading keys of `items`, by key. */
  private async storedReadings(
    tx: Session,
    items: readonly Submitted[],
  ): Promise<Map<string, Stored<Observation>>> {
    const keys = new Set(items.flatMap((item) => (item.readingKey === undefined ? [] : [item.readingKey])));
    if (keys.size === 0) return new Map();
    const values = [...keys].map((key) => key.slice(key.indexOf('|') + 1));
    const rows = await tx.query<{ system: string | null; value: string; content: Stored<Observation> }>(
      `SELECT i.system, i.value, r.content
         FROM fhir_search_index i
         JOIN fhir_resource r ON r.resource_type = i.resource_type AND r.id = i.resource_id AND NOT r.deleted
        WHERE i.resource_type = 'Observation' AND i.code = 'identifier' AND i.value = ANY($1::text[])`,
      [values],
    );
    const held = new Map<string, Stored<Observation>>();
    for (const row of rows) {
      const key = `${row.system ?? ''}|${row.value}`;
      if (keys.has(key) && !held.has(key)) held.set(key, row.content);
    }
    return held;
  }

  private async loadPatients(tx: Session, patientIds: string[]): Promise<Map<string, PatientWork>> {
    const [latest, states] = await Promise.all([
      this.repository.latestOfMany(tx, patientIds),
      this.repository.statesOf(tx, patientIds),
    ]);
    return new Map(
      patientIds.map((id) => [
        id,
        { latest: latest.get(id) ?? [], state: states.get(id), replaced: new Set(), scored: false },
      ]),
    );
  }

  /**
   * Takes one stored vital into its patient's readings and, when the score changes, decides the
   * RiskAssessment and the Flags to open or close (ids assigned here, written by the group).
   */
  private score(
    work: PatientWork,
    vital: Vital,
    observationId: string,
    scale: Spo2Scale,
    writes: GroupWrites,
  ) {
    const previous = work.latest.find((l) => l.parameter === vital.parameter);
    // An older reading than the one held (a late delivery) is stored, but does not displace the latest.
    if (previous !== undefined && previous.effectiveAt.getTime() > vital.effectiveAt.getTime()) return;
    const reading: LatestVital = {
      parameter: vital.parameter,
      value: vital.value,
      effectiveAt: vital.effectiveAt,
      observationId,
    };
    work.latest = [...work.latest.filter((l) => l.parameter !== vital.parameter), reading];
    work.replaced.add(vital.parameter);

    const { patientId } = vital;
    const score = news2(news2VitalsOf(work.latest), scale);
    if (!scoreChanged(work.state, score)) return;
    const asOf = asOfLatest(work.latest);
    const assessmentId = randomUUID();
    writes.creates.push({
      resource: riskAssessmentOf(patientId, score, work.latest, scale, asOf),
      id: assessmentId,
    });
    const called = levelsCalledFor(score);
    const openFlags: News2State['openFlags'] = { urgent: null, emergency: null, ...work.state?.openFlags };
    for (const level of ALERT_LEVELS) {
      const open = openFlags[level];
      if (called[level] && open === null) {
        const flagId = randomUUID();
        writes.creates.push({ resource: openFlagOf(patientId, level, assessmentId, asOf), id: flagId });
        openFlags[level] = flagId;
        writes.alerts.push(alertOf(flagId, level, 'opened', vital, assessmentId, score.total, asOf));
      } else if (!called[level] && open !== null) {
        writes.closes.push({ flagId: open, asOf });
        openFlags[level] = null;
        writes.alerts.push(alertOf(open, level, 'closed', vital, assessmentId, score.total, asOf));
      }
    }
    work.scored = true;
    work.state = {
      total: score.total,
      parameters: score.parameters,
      risk: score.risk,
      assessmentId,
      openFlags,
    };
  }
}

/** Why the bed's admission refuses the vital: a bed the unit does not have, or another patient in it. */
function admissionRefusal(bed: Bed | undefined, vital: Vital): VitalException | undefined {
  if (bed === undefined) {
    return new VitalException(VitalErrorCode.UnknownBed, `No bed ${vital.bedId} in the unit`, [
      'Observation.device',
    ]);
  }
  if (bed.admission?.patientId !== vital.patientId) {
    return new VitalException(
      VitalErrorCode.PatientNotInBed,
      `The patient named by subject is not the one admitted to bed ${vital.bedId}`,
      ['Observation.subject', 'Observation.device'],
    );
  }
  return undefined;
}

function alertOf(
  flagId: string,
  level: AlertRecorded['level'],
  transition: AlertRecorded['transition'],
  vital: Vital,
  assessmentId: string,
  news2Total: number,
  asOf: Date,
): AlertRecorded {
  return {
    flagId,
    level,
    transition,
    patientId: vital.patientId,
    bedId: vital.bedId,
    assessmentId,
    news2Total,
    at: asOf.toISOString(),
  };
}
