import { Controller, Get, Res } from '@nestjs/common';
import type { Response } from 'express';
import { Backends } from '../routing/backends';
import { Public } from '@hospital/platform';

/**
 * `GET /health`: the gateway and the readiness of each backend (its `/health/ready`), 200 when every one is
 * ready, 503 when any is not. The platform's `/health/live` and `/health/ready` stay; ready holds while at least
 * one backend is ready, so one service down does not take the front door out of a load balancer.
 */
@Public()
@Controller('health')
export class GatewayHealthController {
  constructor(private readonly backends: Backends) {}

  @Get()
  async health(@Res() response: Response): Promise<void> {
    const states: (readonly [string, { status: 'up' | 'down' }])[] = await Promise.all(
      this.backends.all().map(async (backend) => {
        try {
          await this.backends.checkReady(backend);
          return [backend.name, { status: 'up' }] as const;
        } catch {
          return [backend.name, { status: 'down' }] as const;
        }
      }),
    );
    const up = states.every(([, state]) => state.status === 'up');
    response
      .status(up ? 200 : 503)
      .json({ status: up ? 'up' : 'degraded', backends: Object.fromEntries(states) });
  }
}
