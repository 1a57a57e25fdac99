import { Controller, Get, Inject, Module, Param } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { FhirExceptionFilter } from '../fhir-exception.filter';

const PROBE_ERRORS = Symbol('PROBE_ERRORS');

/** Throws the error at the index it is asked for, on a FHIR route and on a plain JSON route. */
@Controller()
class ErrorProbeController {
  constructor(@Inject(PROBE_ERRORS) private readonly errors: readonly unknown[]) {}

  @Get(['fhir/Probe/:index', 'api/probe/:index'])
  fail(@Param('index') index: string): never {
    throw this.errors[Number(index)];
  }
}

/** A running probe: `get(route, index)` answers what the service's exception filter made of `errors[index]`. */
export interface ErrorProbe {
  get(route: 'fhir' | 'api', index: number): Promise<{ status: number; contentType: string; body: unknown }>;
  close(): Promise<void>;
}

/**
 * A real Nest app over HTTP whose one controller throws the given errors, with the exception filter every
 * service registers: a spec sends a request and reads what a client would. Listens on an ephemeral port.
 */
export async function startErrorProbe(errors: readonly unknown[]): Promise<ErrorProbe> {
  @Module({ controllers: [ErrorProbeController], providers: [{ provide: PROBE_ERRORS, useValue: errors }] })
  class ErrorProbeModule {}

  const app = await NestFactory.create(ErrorProbeModule, { logger: false });
  app.useGlobalFilters(new FhirExceptionFilter());
  await app.listen(0, '127.0.0.1');
  const { port } = (app.getHttpServer() as Server).address() as AddressInfo;
  return {
    async get(route, index) {
      const path = route === 'fhir' ? `/fhir/Probe/${index}` : `/api/probe/${index}`;
      const response = await fetch(`http://127.0.0.1:${port}${path}`);
      return {
        status: response.status,
        contentType: response.headers.get('content-type') ?? '',
        body: await response.json(),
      };
    },
    close: () => app.close(),
  };
}
