import {
  BadRequestException,
  Body,
  CanActivate,
  Controller,
  HttpCode,
  Inject,
  Injectable,
  NotFoundException,
  Post,
  UseGuards,
} from '@nestjs/common';
import { ApiExcludeController } from '@nestjs/swagger';
import {
  Caller,
  Database,
  environmentOf,
  forbiddenCaller,
  SERVICE_CONFIG,
  type ServiceCaller,
  type ServiceConfig,
  ServiceAuthGuard,
  Session,
  ThreePhaseCommitEnvironment,
  ServiceRoute,
} from '@hospital/platform';
import { isValidGtid } from '../core/gtid';
import { isRecord } from '../adapters/http/http-json';
import type { BranchWork } from '../two-phase-commit/participant';
import { THREE_PHASE_BRANCH_WORK } from './three-phase-commit.tokens';

/** The route of an uncoordinated branch: the branch step alone, in one local transaction. */
export const BranchApplyRoutes = { apply: '/internal/branch/apply' };

/** Body of `POST /internal/branch/apply`. */
export interface BranchApplyBody {
  gtid: string;
  payload: unknown;
}

/**
 * Opens the apply route only where `TX_UNCOORDINATED_APPLY=true`; elsewhere it answers 404, as a route
 * that is not there.
 */
@Injectable()
export class UncoordinatedApplyEnabled implements CanActivate {
  private readonly enabled: boolean;

  constructor(@Inject(SERVICE_CONFIG) config: ServiceConfig) {
    this.enabled = environmentOf(config, ThreePhaseCommitEnvironment).TX_UNCOORDINATED_APPLY === 'true';
  }

  canActivate(): boolean {
    if (!this.enabled) throw new NotFoundException('Cannot POST /internal/branch/apply');
    return true;
  }
}

/**
 * Measurement only: a participant's branch step with no protocol at all — one plain local transaction,
 * committed when the step returns — so a benchmark can price coordination against the same HTTP and
 * validation path. Behind service tokens, for the service's configured peers only; each call applies the
 * step once (nothing de-duplicates a repeat), and a failure in one participant leaves the others'
 * parts applied. Mounted on 3PC participants, open only with `TX_UNCOORDINATED_APPLY=true`.
 */
@ApiExcludeController()
@UseGuards(UncoordinatedApplyEnabled, ServiceAuthGuard)
@ServiceRoute()
@Controller('internal/branch')
export class UncoordinatedApplyController {
  private readonly peers: ReadonlySet<string>;

  constructor(
    @Inject(SERVICE_CONFIG) config: ServiceConfig,
    @Inject(Database) private readonly db: Database,
    @Inject(THREE_PHASE_BRANCH_WORK) private readonly work: BranchWork<Session>,
  ) {
    this.peers = new Set(Object.keys(config.peers));
  }

  @Post('apply')
  @HttpCode(200)
  async apply(@Body() body: unknown, @Caller() caller: ServiceCaller): Promise<{ applied: true }> {
    if (!this.peers.has(caller.name))
      throw forbiddenCaller(`${caller.name} is not a peer of this service: it may not apply branches here`);
    if (!isRecord(body) || !isValidGtid(body.gtid) || !('payload' in body))
      throw new BadRequestException('apply needs {gtid, payload}');
    const { gtid, payload } = body;
    await this.db.transaction((tx) => this.work(tx, payload, gtid));
    return { applied: true };
  }
}
