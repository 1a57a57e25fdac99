/* eslint-disable no-restricted-imports -- the route check reads every app's root module, as the apps boot it */
// The guard check of `npm test`: every route handler of every service, enumerated from the service's own
// module graph (its root module's forRoot with its config, as its main.ts boots it), must say who may call
// it. A route without access metadata is refused at run time by AccessGuard; this fails first, naming it.
import { Controller, Get, Module, type DynamicModule } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { PlatformModule, routeAccess, type RouteAccess } from '@hospital/platform';
import { emrConfig } from '../../apps/emr/src/config';
import { EmrModule } from '../../apps/emr/src/emr.module';
import { lisConfig } from '../../apps/lis/src/config';
import { LisModule } from '../../apps/lis/src/lis.module';
import { pacsConfig } from '../../apps/pacs/src/config';
import { PacsModule } from '../../apps/pacs/src/pacs.module';
import {
  dispensingConfig,
  inventoryConfig,
  messageServerConfig,
  supplierConfig,
  supplyChainConfig,
} from '../../apps/pharmacy/src/config';
import { DispensingModule } from '../../apps/pharmacy/src/dispensing/dispensing.module';
import { InventoryModule } from '../../apps/pharmacy/src/inventory/inventory.module';
import { MessageServerModule } from '../../apps/pharmacy/src/message-server/message-server.module';
import { SupplierModule } from '../../apps/pharmacy/src/supplier/supplier.module';
import { SupplyChainModule } from '../../apps/pharmacy/src/supply-chain/supply-chain.module';
import { icuMonitorConfig } from '../../apps/icu-monitor/src/config';
import { IcuMonitorModule } from '../../apps/icu-monitor/src/icu-monitor.module';
import { icuStationConfig } from '../../apps/icu-station/src/config';
import { IcuStationModule } from '../../apps/icu-station/src/icu-station.module';
import { appointmentsConfig } from '../../apps/appointments/src/config';
import { AppointmentsModule } from '../../apps/appointments/src/appointments.module';
import { carePlansConfig } from '../../apps/care-plans/src/config';
import { CarePlansModule } from '../../apps/care-plans/src/care-plans.module';
import { telemedicineConfig } from '../../apps/telemedicine/src/config';
import { TelemedicineModule } from '../../apps/telemedicine/src/telemedicine.module';
import { gatewayConfig } from '../../apps/gateway/src/config';
import { GatewayModule } from '../../apps/gateway/src/gateway.module';
import { auditConfig } from '../../apps/audit/src/config';
import { AuditModule } from '../../apps/audit/src/audit.module';
import { referralInboxConfig } from '../../apps/telemedicine/src/referral-inbox/config';
import { ReferralInboxModule } from '../../apps/telemedicine/src/referral-inbox/referral-inbox.module';

/** Every service's root module, as its `main.ts` builds it (the process env: the jest setup's issuer). */
const SERVICES: Record<string, () => DynamicModule> = {
  emr: () => EmrModule.forRoot(emrConfig()),
  lis: () => LisModule.forRoot(lisConfig()),
  pacs: () => PacsModule.forRoot(pacsConfig()),
  pharmacy: () => DispensingModule.forRoot(dispensingConfig()),
  'pharmacy-inventory': () => InventoryModule.forRoot(inventoryConfig()),
  'pharmacy-supply-chain': () => SupplyChainModule.forRoot(supplyChainConfig()),
  'pharmacy-supplier': () => SupplierModule.forRoot(supplierConfig()),
  'pharmacy-messages': () => MessageServerModule.forRoot(messageServerConfig()),
  'icu-monitor': () => IcuMonitorModule.forRoot(icuMonitorConfig()),
  'icu-station': () => IcuStationModule.forRoot(icuStationConfig()),
  appointments: () => AppointmentsModule.forRoot(appointmentsConfig()),
  'care-plans': () => CarePlansModule.forRoot(carePlansConfig()),
  telemedicine: () => TelemedicineModule.forRoot(telemedicineConfig()),
  'referral-inbox': () => ReferralInboxModule.forRoot(referralInboxConfig()),
  gateway: () => GatewayModule.forRoot(gatewayConfig()),
  audit: () => AuditModule.forRoot(auditConfig()),
};

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
  it.each(Object.keys(SERVICES))('%s', async (name) => {
    const routes = await routesOf(SERVICES[name]());
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
