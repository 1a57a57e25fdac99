import {
  Controller,
  Get,
  Inject,
  Injectable,
  Module,
  OnApplicationBootstrap,
  OnApplicationShutdown,
} from '@nestjs/common';
import { ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import type { Logger } from 'pino';
import { Counter } from 'prom-client';
import { FhirResourceStore, FhirValidator } from '@hospital/fhir';
import {
  Database,
  environmentOf,
  MetricsRegistry,
  ROOT_LOGGER,
  Roles,
  SERVICE_CONFIG,
  type ServiceConfig,
} from '@hospital/platform';
import { Outbox } from '@hospital/transactions';
import { ImagingEnvironment } from '../imaging.environment';
import { worklistFolderProvider } from '../worklist/worklist-requested.handler';
import { WorklistFolder } from '../worklist/worklist-folder';
import { OrthancClient } from './orthanc-client';
import { StudyIntake, type StudyOutcome } from './study-intake';
import { StudyPoller, type StudyPollerObserver } from './study-poller';

/** Prometheus counters of the studies poller. */
class StudyIntakeMetrics implements StudyPollerObserver {
  private readonly studies: Counter<'outcome'>;
  private readonly failures: Counter;

  constructor(metrics: MetricsRegistry) {
    this.studies = new Counter({
      name: 'hospital_pacs_studies_total',
      help: 'Stable studies reported by the imaging archive, by outcome (applied, skipped, …).',
      labelNames: ['outcome'],
      registers: [metrics.registry],
    });
    this.failures = new Counter({
      name: 'hospital_pacs_archive_failures_total',
      help: 'Rounds of the studies poller the imaging archive did not answer.',
      registers: [metrics.registry],
    });
  }

  studyOutcome(outcome: StudyOutcome): void {
    this.studies.inc({ outcome: outcome.kind === 'skipped' ? `skipped-${outcome.reason}` : outcome.kind });
  }

  archiveFailure(): void {
    this.failures.inc();
  }
}

/** Runs the studies poller while the PACS is up. */
@Injectable()
export class StudyPollerLifecycle implements OnApplicationBootstrap, OnApplicationShutdown {
  constructor(@Inject(StudyPoller) private readonly poller: StudyPoller) {}
  onApplicationBootstrap(): void {
    this.poller.start();
  }
  onApplicationShutdown(): Promise<void> {
    return this.poller.stop();
  }
}

/** The studies intake as operators see it: how far the archive's feed was read, applied and skipped. */
@ApiTags('imaging')
@Roles('administrator')
@Controller('api/imaging')
export class StudyIntakeController {
  constructor(
    @Inject(StudyIntake) private readonly intake: StudyIntake,
    @Inject(StudyPoller) private readonly poller: StudyPoller,
  ) {}

  @Get('intake')
  @ApiOperation({ summary: 'The change-feed cursor and the counts of studies applied and skipped' })
  @ApiOkResponse({ description: '{ lastChange, studiesApplied, studiesSkipped, archiveFailures }' })
  async status(): Promise<Record<string, number>> {
    return { ...(await this.intake.status()), archiveFailures: this.poller.failures };
  }
}

/**
 * Studies in: stored studies read from the archive (Orthanc's change feed, QIDO-RS) become ImagingStudy
 * resources and complete their orders, each with one order-result event for the EMR.
 */
@Module({
  controllers: [StudyIntakeController],
  providers: [
    worklistFolderProvider,
    {
      provide: OrthancClient,
      inject: [SERVICE_CONFIG],
      useFactory: (config: ServiceConfig) =>
        new OrthancClient(environmentOf(config, ImagingEnvironment).ORTHANC_URL),
    },
    {
      provide: StudyIntake,
      inject: [Database, FhirResourceStore, FhirValidator, Outbox, OrthancClient],
      useFactory: (
        db: Database,
        store: FhirResourceStore,
        validator: FhirValidator,
        outbox: Outbox,
        archive: OrthancClient,
      ) => new StudyIntake(db, store, validator, outbox, archive.dicomWebBase),
    },
    {
      provide: StudyPoller,
      inject: [
        OrthancClient,
        StudyIntake,
        WorklistFolder,
        SERVICE_CONFIG,
        MetricsRegistry,
        ROOT_LOGGER,
        Outbox,
      ],
      useFactory: (
        archive: OrthancClient,
        intake: StudyIntake,
        worklist: WorklistFolder,
        config: ServiceConfig,
        metrics: MetricsRegistry,
        logger: Logger,
        outbox: Outbox,
      ) => {
        const env = environmentOf(config, ImagingEnvironment);
        const observer = new StudyIntakeMetrics(metrics);
        return new StudyPoller(
          archive,
          intake,
          worklist,
          { pollMs: env.ORTHANC_POLL_MS, maxBackoffMs: env.ORTHANC_MAX_BACKOFF_MS },
          {
            studyOutcome: (outcome) => {
              observer.studyOutcome(outcome);
              if (outcome.kind === 'applied') outbox.notify();
            },
            archiveFailure: () => observer.archiveFailure(),
          },
          logger.child({ component: 'study-poller' }),
        );
      },
    },
    StudyPollerLifecycle,
  ],
})
export class StudiesModule {}
