import { Inject, Injectable } from '@nestjs/common';
import type { Flag, Observation } from '@medplum/fhirtypes';
import type { Logger } from 'pino';
import { FhirResourceStore, type Stored } from '@hospital/fhir';
import {
  Database,
  environmentOf,
  ROOT_LOGGER,
  SERVICE_CONFIG,
  type ServiceConfig,
  type Session,
} from '@hospital/platform';
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

/** What one vital's transaction did besides storing the Observation. */
interface Recorded {
  observation: Stored<Observation>;
  /** The RiskAssessment written, when the score changed. */
  assessmentId?: string;
  alerts: AlertRecorded[];
}

/**
 * Records vital signs and keeps each patient's NEWS2 score. One local transaction per vital: the bed's row
 * lock (so one patient's vitals are scored one at a time, whatever their number or source), the checks
 * against the admission, the Observation, the patient's latest reading of the parameter, and — when the
 * score changes — a RiskAssessment, the Flags the escalation opens or closes, and their notification.
 * A refused vital writes nothing.
 */
@Injectable()
export class VitalsService {
  private readonly maxSkewMs: number;

  constructor(
    @Inject(Database) private readonly db: Database,
    @Inject(FhirResourceStore) private readonly store: FhirResourceStore,
    @Inject(BedsService) private readonly beds: BedsService,
    @Inject(VitalsRepository) private readonly repository: VitalsRepository,
    @Inject(AlertNotifier) private readonly notifier: AlertNotifier,
    @Inject(SERVICE_CONFIG) config: ServiceConfig,
    @Inject(ROOT_LOGGER) private readonly logger: Logger,
  ) {
    this.maxSkewMs = environmentOf(config, IcuMonitorEnvironment).VITALS_MAX_CLOCK_SKEW_MS;
  }

  /** Stores a vital-sign Observation (valid FHIR R4) and scores it; a VitalException when refused. */
  async record(observation: Observation): Promise<Stored<Observation>> {
    const vital = vitalOf(observation, new Date(), this.maxSkewMs);
    const recorded = await this.db.transaction((tx) => this.recordIn(tx, observation, vital));
    if (recorded.alerts.length > 0) this.notifier.committed();
    for (const alert of recorded.alerts) {
      // Ids and the level only: the patient stays out of the log.
      this.logger.info(
        { flagId: alert.flagId, level: alert.level, bedId: alert.bedId, assessmentId: alert.assessmentId },
        `NEWS2 ${alert.level} alert ${alert.transition}`,
      );
    }
    return recorded.observation;
  }

  private async recordIn(tx: Session, observation: Observation, vital: Vital): Promise<Recorded> {
    const bed = await this.beds.findLocked(tx, vital.bedId);
    if (bed === undefined) {
      throw new VitalException(VitalErrorCode.UnknownBed, `No bed ${vital.bedId} in the unit`, [
        'Observation.device',
      ]);
    }
    if (bed.admission?.patientId !== vital.patientId) {
      throw new VitalException(
        VitalErrorCode.PatientNotInBed,
        `The patient named by subject is not the one admitted to bed ${vital.bedId}`,
        ['Observation.subject', 'Observation.device'],
      );
    }
    const stored = await this.store.create(tx, observation);
    const latest = await this.repository.latestOf(tx, vital.patientId);
    const previous = latest.find((l) => l.parameter === vital.parameter);
    // An older reading than the one held (a late delivery) is stored, but does not displace the latest.
    if (previous !== undefined && previous.effectiveAt.getTime() > vital.effectiveAt.getTime()) {
      return { observation: stored, alerts: [] };
    }
    const reading: LatestVital = {
      parameter: vital.parameter,
      value: vital.value,
      effectiveAt: vital.effectiveAt,
      observationId: stored.id,
    };
    await this.repository.saveLatest(tx, vital.patientId, reading);
    const current = [...latest.filter((l) => l.parameter !== vital.parameter), reading];
    return { observation: stored, ...(await this.score(tx, vital, current, bed.admission.spo2Scale)) };
  }

  /** Scores the latest readings; on a change, records the assessment and opens or closes Flags. */
  private async score(
    tx: Session,
    vital: Vital,
    latest: LatestVital[],
    scale: Spo2Scale,
  ): Promise<Omit<Recorded, 'observation'>> {
    const { patientId } = vital;
    const score = news2(news2VitalsOf(latest), scale);
    const state = await this.repository.stateOf(tx, patientId);
    if (!scoreChanged(state, score)) return { alerts: [] };

    const asOf = asOfLatest(latest);
    const assessment = await this.store.create(tx, riskAssessmentOf(patientId, score, latest, scale, asOf));
    const called = levelsCalledFor(score);
    const openFlags: News2State['openFlags'] = { urgent: null, emergency: null, ...state?.openFlags };
    const alerts: AlertRecorded[] = [];
    for (const level of ALERT_LEVELS) {
      const open = openFlags[level];
      if (called[level] && open === null) {
        const flag = await this.store.create(tx, openFlagOf(patientId, level, assessment.id, asOf));
        openFlags[level] = flag.id;
        alerts.push(alertOf(flag.id, level, 'opened', vital, assessment.id, score.total, asOf));
      } else if (!called[level] && open !== null) {
        const flag = await this.store.read<Flag>(tx, 'Flag', open);
        await this.store.update(tx, closedFlagOf(flag, asOf));
        openFlags[level] = null;
        alerts.push(alertOf(open, level, 'closed', vital, assessment.id, score.total, asOf));
      }
    }
    await this.repository.saveState(tx, patientId, {
      total: score.total,
      parameters: score.parameters,
      risk: score.risk,
      assessmentId: assessment.id,
      openFlags,
    });
    if (alerts.length > 0) await this.notifier.notify(tx, alerts);
    return { assessmentId: assessment.id, alerts };
  }
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
