/* eslint-disable no-restricted-imports -- the route check reads every app's root module, as the apps boot it */
// The guard check of `npm test`: every route handler of every service, enumerated from the service's own
// module graph (its root module's forRoot with its config, as its main.ts boots it), must say who may call
// it. A route without access metadata is refused at run time by AccessGuard; this fails first, naming it.
import { Controller, Get, Module, type DynamicModule } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { PlatformModule, routeAccess, type RouteAccess } from '@hospital/platform';
import { emrConfig } from '../../apps/emr/src/config';
import { SERVICE_APPS } from './service-apps';

/**
 * The routes of a root module's graph. Preview mode builds the whole graph (every module, controller and
 * its metadata) without instantiating providers, so no database or broker is needed.
 */
async function routesOf(root: DynamicModule): Promise<RouteAccess[]> {
  const app = await NestFactory.create(root, { preview: true, logger: false, abortOnError: false });
  try {
    return routeAccess(app);
  } finally {
    await app.close();
  }
}

const unguarded = (routes: RouteAccess[]) =>
  routes.filter((r) => r.access === undefined).map((r) => `${r.controller}.${r.method} (${r.path})`);

describe('every route of every service says who may call it', () => {
  it.each(Object.keys(SERVICE_APPS))('%s', async (name) => {
    // The process env: the jest setup's issuer.
    const routes = await routesOf(SERVICE_APPS[name].build(process.env).root);
    // The platform's own routes are there, so the enumeration saw the whole graph.
    expect(routes).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ controller: 'HealthController', access: 'public' }),
        expect.objectContaining({ path: '/.well-known/smart-configuration', access: 'public' }),
      ]),
    );
    expect(unguarded(routes)).toEqual([]);
  });

  it('names a controller method that has no access metadata', async () => {
    @Controller('api/forgotten')
    class ForgottenController {
      @Get(':id')
      show(): string {
        return 'x';
      }
    }
    @Module({ controllers: [ForgottenController] })
    class ForgottenModule {}
    const root: DynamicModule = {
      module: class Root {},
      imports: [PlatformModule.forRoot(emrConfig()), ForgottenModule],
    };
    expect(unguarded(await routesOf(root))).toEqual(['ForgottenController.show (/api/forgotten/:id)']);
  });
});
