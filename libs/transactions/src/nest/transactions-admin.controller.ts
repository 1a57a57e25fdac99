import {
  BadRequestException,
  Body,
  ConflictException,
  Controller,
  Get,
  HttpCode,
  Inject,
  Injectable,
  NotFoundException,
  Param,
  PipeTransform,
  Post,
  Provider,
  Query,
  ValidationPipe,
} from '@nestjs/common';
import {
  ApiConflictResponse,
  ApiNotFoundResponse,
  ApiOkResponse,
  ApiOperation,
  ApiParam,
  ApiProperty,
  ApiPropertyOptional,
  ApiTags,
} from '@nestjs/swagger';
import {
  Database,
  environmentOf,
  MetricsRegistry,
  SERVICE_CONFIG,
  ServiceConfig,
  Session,
  TwoPhaseCommitEnvironment,
  Roles,
} from '@hospital/platform';
import { Type } from 'class-transformer';
import { IsIn, IsInt, IsOptional, IsString, Matches, Max, MaxLength, Min } from 'class-validator';
import {
  PostgresResolutionLog,
  PostgresTransactionHealth,
  Resolution,
  UnfinishedTransaction,
} from '../adapters/postgres/postgres-in-doubt';
import { PostgresRetention } from '../adapters/postgres/postgres-retention';
import { isValidGtid } from '../core/gtid';
import { errorMessage } from '../core/observer';
import { BranchRecord } from '../ports/global-transaction';
import { InDoubtBranch } from '../ports/two-phase-commit.ports';
import { TwoPhaseCoordinator } from '../two-phase-commit/coordinator';
import { TwoPhaseParticipant } from '../two-phase-commit/participant';
import {
  Decision,
  InDoubtVerdict,
  NotInDoubtError,
  ResolutionConflictError,
} from '../two-phase-commit/types';
import { InDoubtRole, TwoPhaseCommitGauges } from './observability';
import { retentionProvider } from './retention';

const SERVICE_NAME = /^[a-z][a-z0-9-]{0,39}$/;
/** Printable text on one line: it lands in the resolution record and the transaction's timeline. */
const ONE_LINE = /^[^\p{Cc}]*\S[^\p{Cc}]*$/u;

/** Rejects unknown fields and anything that is not the declared shape, with every problem named. */
const strict = new ValidationPipe({
  whitelist: true,
  forbidNonWhitelisted: true,
  transform: true,
  validationError: { target: false, value: false },
});

class GtidPipe implements PipeTransform<string, string> {
  transform(value: string): string {
    if (!isValidGtid(value))
      throw new BadRequestException('gtid must be 1–64 characters of letters, digits and . _ : -');
    return value;
  }
}

/** An operator's request to settle one in-doubt transaction. */
export class ResolveInDoubtDto {
  @ApiProperty({
    enum: ['commit', 'abort'],
    description:
      'The outcome the operator asks for. Refused (409) when the coordinator’s durable decision says otherwise.',
  })
  @IsIn(['commit', 'abort'], { message: 'decision must be commit or abort' })
  decision!: Decision;

  @ApiProperty({
    description: 'Who decides (until access control supplies the subject): a user name or staff id.',
    example: 'oncall.jdoe',
  })
  @IsString()
  @MaxLength(100)
  @Matches(ONE_LINE, { message: 'operator must be a non-blank line of text' })
  operator!: string;

  @ApiProperty({
    description: 'Why (a ticket, what was checked). Recorded with the resolution; no patient data.',
    example: 'INC-4711: participant restored from backup, coordinator log shows no decision',
  })
  @IsString()
  @MaxLength(500)
  @Matches(ONE_LINE, { message: 'reason must be a non-blank line of text' })
  reason!: string;

  @ApiPropertyOptional({
    description: 'On a participant: the coordinator of the branch, when branches of several share the gtid.',
  })
  @IsOptional()
  @Matches(SERVICE_NAME, { message: 'coordinator must be a service name' })
  coordinator?: string;
}

export class ResolutionQuery {
  @IsOptional()
  @Matches(/^[A-Za-z0-9._:-]{1,64}$/, {
    message: 'gtid must be 1–64 characters of letters, digits and . _ : -',
  })
  gtid?: string;

  @IsOptional() @Type(() => Number) @IsInt() @Min(1) @Max(500) limit?: number;
}

/** One transaction in doubt here, as the admin endpoint lists it. */
export class InDoubtView {
  @ApiProperty({ enum: ['coordinator', 'participant'] }) role!: InDoubtRole;
  @ApiProperty() gtid!: string;
  @ApiProperty({ description: 'The coordinating service.' }) coordinator!: string;
  @ApiProperty({
    description:
      '`prepared` for a participant’s branch; `preparing`, `committing` or `aborting` on a coordinator.',
  })
  state!: string;
  @ApiProperty({
    format: 'date-time',
    description: 'When the branch was prepared, or the transaction began.',
  })
  since!: string;
  @ApiProperty() ageSeconds!: number;
  @ApiProperty({ description: 'Older than TX_IN_DOUBT_AFTER_MS: counted by hospital_tx_in_doubt.' })
  overdue!: boolean;
  @ApiPropertyOptional({ description: 'Coordinator only: the branches and what each last did.' })
  branches?: BranchRecord[];
  @ApiPropertyOptional() retries?: number;
  @ApiPropertyOptional() lastError?: string;
}

export class InDoubtListView {
  @ApiProperty({ type: [InDoubtView] }) transactions!: InDoubtView[];
}

export class ResolutionView {
  @ApiProperty() id!: number;
  @ApiProperty() gtid!: string;
  @ApiProperty({ enum: ['coordinator', 'participant'] }) role!: InDoubtRole;
  @ApiProperty() coordinator!: string;
  @ApiProperty({ enum: ['commit', 'abort'] }) requested!: Decision;
  @ApiProperty({ enum: ['commit', 'abort'], description: 'The decision applied.' }) decision!: Decision;
  @ApiProperty({ description: 'Taken without the coordinator’s word (it could not be reached).' })
  heuristic!: boolean;
  @ApiProperty() operator!: string;
  @ApiProperty() reason!: string;
  @ApiProperty({ enum: ['pending', 'applied', 'failed'] }) outcome!: Resolution['outcome'];
  @ApiPropertyOptional() detail?: string;
  @ApiProperty({ format: 'date-time' }) createdAt!: string;
  @ApiPropertyOptional({ format: 'date-time' }) finishedAt?: string;
  @ApiPropertyOptional({ description: 'Coordinator only: every participant acknowledged phase two.' })
  acknowledged?: boolean;
}

const resolutionView = (resolution: Resolution): ResolutionView => ({
  ...resolution,
  createdAt: resolution.createdAt.toISOString(),
  finishedAt: resolution.finishedAt?.toISOString(),
});

/**
 * Lists what is in doubt in this service and resolves one transaction on an operator's request, through
 * the 2PC cores; every resolution is recorded (who, why, what, when, heuristic or not) before it is applied.
 */
export class InDoubtAdmin {
  constructor(
    private readonly config: ServiceConfig,
    private readonly health: PostgresTransactionHealth,
    private readonly resolutions: PostgresResolutionLog,
    private readonly coordinator?: TwoPhaseCoordinator<Session>,
    private readonly participant?: TwoPhaseParticipant<Session>,
  ) {}

  private get inDoubtAfterMs(): number {
    return environmentOf(this.config, TwoPhaseCommitEnvironment).TX_IN_DOUBT_AFTER_MS;
  }

  async list(): Promise<InDoubtView[]> {
    const views: InDoubtView[] = [];
    if (this.coordinator) {
      for (const tx of await this.health.unfinished(500)) {
        views.push({
          role: 'coordinator',
          gtid: tx.gtid,
          coordinator: this.config.service.name,
          state: tx.state,
          since: tx.createdAt.toISOString(),
          ageSeconds: tx.ageSeconds,
          overdue: tx.ageSeconds * 1000 > this.inDoubtAfterMs,
          branches: tx.branches,
          retries: tx.retries,
          ...(tx.lastError ? { lastError: tx.lastError } : {}),
        });
      }
    }
    if (this.participant) {
      const branches = await this.participant.prepared();
      for (const branch of branches.sort((a, b) => a.preparedAt.getTime() - b.preparedAt.getTime())) {
        const ageSeconds = Math.max(0, (Date.now() - branch.preparedAt.getTime()) / 1000);
        views.push({
          role: 'participant',
          gtid: branch.gtid,
          coordinator: branch.coordinator,
          state: 'prepared',
          since: branch.preparedAt.toISOString(),
          ageSeconds,
          overdue: ageSeconds * 1000 > this.inDoubtAfterMs,
        });
      }
    }
    return views;
  }

  /** In-doubt counts for `hospital_tx_in_doubt`, by the roles this service plays. */
  async inDoubtCounts(): Promise<Partial<Record<InDoubtRole, number>>> {
    const counts: Partial<Record<InDoubtRole, number>> = {};
    if (this.coordinator) counts.coordinator = await this.health.overdueCount(this.inDoubtAfterMs);
    if (this.participant) {
      const olderThan = new Date(Date.now() - this.inDoubtAfterMs);
      counts.participant = (await this.participant.prepared()).filter((b) => b.preparedAt < olderThan).length;
    }
    return counts;
  }

  async resolve(gtid: string, request: ResolveInDoubtDto): Promise<ResolutionView> {
    try {
      const branch = await this.preparedBranch(gtid, request.coordinator);
      if (branch) return await this.resolveBranch(branch, request);
      const [unfinished] = this.coordinator ? await this.health.unfinished(1, gtid) : [];
      if (unfinished) return await this.resolveUnfinished(unfinished, request);
    } catch (error) {
      if (error instanceof ResolutionConflictError) throw new ConflictException(error.message);
      if (error instanceof NotInDoubtError) throw new NotFoundException(error.message);
      throw error;
    }
    throw new NotFoundException(`nothing is in doubt for ${gtid} here`);
  }

  async history(query: ResolutionQuery): Promise<ResolutionView[]> {
    return (await this.resolutions.list(query.limit ?? 50, query.gtid)).map(resolutionView);
  }

  private async preparedBranch(gtid: string, coordinator?: string): Promise<InDoubtBranch | undefined> {
    if (!this.participant) return undefined;
    const branches = (await this.participant.prepared()).filter(
      (b) => b.gtid === gtid && (coordinator === undefined || b.coordinator === coordinator),
    );
    if (branches.length > 1) {
      throw new ConflictException(
        `branches of several coordinators share ${gtid} (${branches.map((b) => b.coordinator).join(', ')}): name the coordinator`,
      );
    }
    return branches[0];
  }

  private async resolveBranch(branch: InDoubtBranch, request: ResolveInDoubtDto): Promise<ResolutionView> {
    const participant = this.participant as TwoPhaseParticipant<Session>;
    let recorded: Resolution | undefined;
    return this.applying(
      () => recorded,
      async () => {
        const verdict = await participant.resolveInDoubt(branch, request.decision, async (v) => {
          recorded = await this.record('participant', branch.coordinator, v, request);
        });
        return { verdict };
      },
    );
  }

  private async resolveUnfinished(
    transaction: UnfinishedTransaction,
    request: ResolveInDoubtDto,
  ): Promise<ResolutionView> {
    const coordinator = this.coordinator as TwoPhaseCoordinator<Session>;
    const { gtid } = transaction;
    let recorded: Resolution | undefined;
    return this.applying(
      () => recorded,
      async () => {
        const result = await coordinator.resolveUnfinished(
          {
            gtid,
            style: '2pc',
            state: transaction.state,
            branches: transaction.branches,
            timeline: [],
            retries: transaction.retries,
            createdAt: transaction.createdAt.toISOString(),
            updatedAt: transaction.createdAt.toISOString(),
          },
          request.decision,
          async (v) => {
            recorded = await this.record('coordinator', this.config.service.name, v, request);
          },
        );
        return {
          verdict: result,
          acknowledged: result.acknowledged,
          detail: result.acknowledged
            ? undefined
            : 'phase two not acknowledged by every participant yet; recovery keeps driving it',
        };
      },
    );
  }

  private record(
    role: InDoubtRole,
    coordinator: string,
    verdict: InDoubtVerdict,
    request: ResolveInDoubtDto,
  ): Promise<Resolution> {
    return this.resolutions.begin({
      gtid: verdict.gtid,
      role,
      coordinator,
      requested: request.decision,
      decision: verdict.decision,
      heuristic: verdict.heuristic,
      operator: request.operator.trim(),
      reason: request.reason.trim(),
    });
  }

  /** Runs a resolution and completes its record: applied, or failed with the error (then rethrown). */
  private async applying(
    recorded: () => Resolution | undefined,
    work: () => Promise<{ verdict: InDoubtVerdict; acknowledged?: boolean; detail?: string }>,
  ): Promise<ResolutionView> {
    let outcome: Awaited<ReturnType<typeof work>>;
    try {
      outcome = await work();
    } catch (error) {
      const started = recorded();
      if (started) await this.resolutions.finish(started.id, 'failed', errorMessage(error));
      throw error;
    }
    const started = recorded();
    if (!started) throw new Error(`resolution of ${outcome.verdict.gtid} was applied without a record`);
    let detail = outcome.detail;
    if (outcome.verdict.decision !== started.decision) {
      detail = `the log decided ${outcome.verdict.decision} meanwhile; that decision was driven`;
    }
    const finished = await this.resolutions.finish(started.id, 'applied', detail);
    return {
      ...resolutionView(finished),
      decision: outcome.verdict.decision,
      ...(outcome.acknowledged === undefined ? {} : { acknowledged: outcome.acknowledged }),
    };
  }
}

/**
 * The service's `InDoubtAdmin`, set by `TwoPhaseCommitModule` when the service takes part in two-phase
 * commit (the first one set is kept: every 2PC module of a service works on the same tables).
 */
@Injectable()
export class InDoubtAdmins {
  private current?: InDoubtAdmin;

  set(admin: InDoubtAdmin): void {
    this.current ??= admin;
  }

  get(): InDoubtAdmin {
    if (!this.current)
      throw new NotFoundException('this service takes no part in two-phase commit: nothing is in doubt here');
    return this.current;
  }
}

/**
 * `/api/transactions/in-doubt`: what is in doubt in this service (a coordinator's unfinished global
 * transactions, a participant's prepared branches), resolving one, and the record of past resolutions.
 * Registered with `/api/transactions` by `TransactionsApiModule`, before `/api/transactions/:gtid`, which
 * would otherwise take `in-doubt` for a gtid; answers 404 in a service without two-phase commit.
 */
@ApiTags('transactions')
@Roles('administrator')
@Controller('api/transactions/in-doubt')
export class InDoubtController {
  constructor(@Inject(InDoubtAdmins) private readonly admins: InDoubtAdmins) {}

  @Get()
  @ApiOperation({
    summary: 'Transactions in doubt here, oldest first',
    description:
      'On a coordinator: global transactions still preparing, committing or aborting. On a participant: ' +
      'branches held as PostgreSQL prepared transactions (they hold row locks until resolved).',
  })
  @ApiOkResponse({ type: InDoubtListView })
  async list(): Promise<InDoubtListView> {
    return { transactions: await this.admins.get().list() };
  }

  @Get('resolutions')
  @ApiOperation({ summary: 'Operators’ resolutions, newest first: who, why, what, when, heuristic or not' })
  @ApiOkResponse({ type: [ResolutionView] })
  resolutions(@Query(strict) query: ResolutionQuery): Promise<ResolutionView[]> {
    return this.admins.get().history(query);
  }

  @Post(':gtid/resolve')
  @HttpCode(200)
  @ApiParam({ name: 'gtid' })
  @ApiOperation({
    summary: 'Resolve one in-doubt transaction',
    description:
      'On a participant: the coordinator is asked first and its decision applied (an operator decision ' +
      'contradicting it is refused with 409); when it cannot be reached, the operator’s decision is ' +
      'applied as a heuristic decision. On a coordinator: a transaction still preparing is aborted ' +
      '(presumed abort; commit is refused), one committing or aborting has phase two driven again. ' +
      'Recorded with operator and reason before anything is applied.',
  })
  @ApiOkResponse({ type: ResolutionView })
  @ApiConflictResponse({ description: 'The decision contradicts the durable outcome; nothing changed.' })
  @ApiNotFoundResponse({ description: 'Nothing is in doubt for this gtid here.' })
  resolve(
    @Param('gtid', new GtidPipe()) gtid: string,
    @Body(strict) body: ResolveInDoubtDto,
  ): Promise<ResolutionView> {
    return this.admins.get().resolve(gtid, body);
  }
}

/**
 * What `TwoPhaseCommitModule` adds for operations: the in-doubt admin (behind `InDoubtController`), the
 * 2PC gauges, and the retention sweep of `tx_global` and `tx_participant_branch`. The module must import
 * `TransactionsApiModule`, which provides `InDoubtAdmins` and the controller.
 */
export function transactionOperationsProviders(): Provider[] {
  return [
    {
      provide: PostgresTransactionHealth,
      inject: [Database],
      useFactory: (db: Database) => new PostgresTransactionHealth(db),
    },
    {
      provide: InDoubtAdmin,
      inject: [
        SERVICE_CONFIG,
        PostgresTransactionHealth,
        Database,
        { token: TwoPhaseCoordinator, optional: true },
        { token: TwoPhaseParticipant, optional: true },
      ],
      useFactory: (
        config: ServiceConfig,
        health: PostgresTransactionHealth,
        db: Database,
        coordinator?: TwoPhaseCoordinator<Session>,
        participant?: TwoPhaseParticipant<Session>,
      ) => new InDoubtAdmin(config, health, new PostgresResolutionLog(db), coordinator, participant),
    },
    {
      provide: Symbol('in-doubt admin of the service'),
      inject: [InDoubtAdmins, InDoubtAdmin],
      useFactory: (admins: InDoubtAdmins, admin: InDoubtAdmin) => {
        admins.set(admin);
        return admin;
      },
    },
    {
      provide: TwoPhaseCommitGauges,
      inject: [MetricsRegistry, PostgresTransactionHealth, InDoubtAdmin],
      useFactory: (metrics: MetricsRegistry, health: PostgresTransactionHealth, admin: InDoubtAdmin) =>
        new TwoPhaseCommitGauges(metrics, {
          oldestPreparedAgeSeconds: () => health.oldestPreparedAgeSeconds(),
          inDoubt: () => admin.inDoubtCounts(),
        }),
    },
    retentionProvider([Database], (db: Database) => {
      const retention = new PostgresRetention(db);
      return [
        { table: 'tx_global', prune: (ms) => retention.pruneGlobalTransactions(ms) },
        { table: 'tx_participant_branch', prune: (ms) => retention.pruneParticipantBranches(ms) },
      ];
    }),
  ];
}
