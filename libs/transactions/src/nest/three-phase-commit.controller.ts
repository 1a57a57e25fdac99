import { BadRequestException, Body, Controller, HttpCode, Inject, Post, UseGuards } from '@nestjs/common';
import { ApiExcludeController } from '@nestjs/swagger';
import {
  Caller,
  forbiddenCaller,
  ServiceAuthGuard,
  ServiceCaller,
  Session,
  ServiceRoute,
} from '@hospital/platform';
import { isValidGtid } from '../core/gtid';
import { errorMessage } from '../core/observer';
import { isRecord } from '../adapters/http/http-json';
import { ThreePhaseBatchResult } from '../adapters/http/three-phase-commit.http';
import { ThreePhaseParticipant } from '../three-phase-commit/participant';

const SERVICE_NAME = /^[a-z][a-z0-9-]{0,39}$/;
const MAX_PEERS = 16;

function peersOf(value: unknown): string[] | undefined {
  return Array.isArray(value) &&
    value.length > 0 &&
    value.length <= MAX_PEERS &&
    value.every((p) => typeof p === 'string' && SERVICE_NAME.test(p))
    ? (value as string[])
    : undefined;
}

/**
 * Participant side of the 3PC HTTP contract (adapters/http/three-phase-commit.http.ts), behind service
 * tokens. The coordinator named in a batch may send every operation; any other caller is a peer
 * terminating the transaction and may only send PreCommit for transactions that name it as a participant.
 */
@ApiExcludeController()
@UseGuards(ServiceAuthGuard)
@ServiceRoute()
@Controller('internal/3pc')
export class ThreePhaseParticipantController {
  constructor(@Inject(ThreePhaseParticipant) private readonly participant: ThreePhaseParticipant<Session>) {}

  @Post('batch')
  @HttpCode(200)
  async batch(
    @Body() body: unknown,
    @Caller() caller: ServiceCaller,
  ): Promise<{ results: ThreePhaseBatchResult[] }> {
    const coordinator = isRecord(body) ? body.coordinator : undefined;
    const ops = isRecord(body) ? body.ops : undefined;
    if (typeof coordinator !== 'string' || !SERVICE_NAME.test(coordinator))
      throw new BadRequestException('coordinator must be a service name');
    if (!Array.isArray(ops) || ops.length === 0 || ops.length > 256)
      throw new BadRequestException('batch needs {coordinator, ops: [1..256 operations]}');
    const byCoordinator = coordinator === caller.name;
    const results = await Promise.all(
      ops.map(async (op: unknown): Promise<ThreePhaseBatchResult> => {
        try {
          if (!isRecord(op) || !isValidGtid(op.gtid)) return { error: 'operation needs a valid gtid' };
          if (op.op === 'pre-commit') {
            const peers = peersOf(op.peers);
            if (!peers) return { error: 'pre-commit needs peers: 1..16 service names' };
            if (!byCoordinator && !peers.includes(caller.name))
              throw forbiddenCaller(`${caller.name} takes no part in global transaction ${op.gtid}`);
            return { ack: await this.participant.preCommit(op.gtid, coordinator, peers) };
          }
          if (!byCoordinator)
            throw forbiddenCaller(`${caller.name} may not act for coordinator ${coordinator}`);
          switch (op.op) {
            case 'can-commit':
              return await this.participant.canCommit(op.gtid, coordinator, op.payload);
            case 'do-commit':
              return { ack: await this.participant.doCommit(op.gtid, coordinator) };
            case 'abort':
              await this.participant.abort(op.gtid, coordinator);
              return { ack: 'aborted' };
            default:
              return { error: 'op must be can-commit, pre-commit, do-commit or abort' };
          }
        } catch (error) {
          return { error: errorMessage(error) };
        }
      }),
    );
    return { results };
  }
}
