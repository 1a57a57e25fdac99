/* eslint-disable no-restricted-imports -- the route checks read every app's root module, as the apps boot it */
// Every service's root module and app options, as its `main.ts` builds them: the route check (`npm test`)
// reads their access metadata, the route refusal spec boots each of them over HTTP.
import type { DynamicModule } from '@nestjs/common';
import { FhirExceptionFilter } from '@hospital/fhir';
import type { ServiceAppOptions, ServiceConfig } from '@hospital/platform';
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

/** How a service's `main.ts` boots it: its config and root module from an environment, and its app options. */
export interface ServiceApp {
  build: (env: NodeJS.ProcessEnv) => { config: ServiceConfig; root: DynamicModule };
  /** The options of its `runService`, without `beforeListen` (message transports: not HTTP). */
  options: () => ServiceAppOptions;
}

const fhir = (): ServiceAppOptions => ({ filters: [new FhirExceptionFilter()] });

function service<C extends ServiceConfig>(
  configure: (env: NodeJS.ProcessEnv) => C,
  root: (config: C) => DynamicModule,
  options: () => ServiceAppOptions = fhir,
): ServiceApp {
  return {
    build: (env) => {
      const config = configure(env);
      return { config, root: root(config) };
    },
    options,
  };
}

/** Every service of the platform by its name in `scripts/services.ts`. */
export const SERVICE_APPS: Readonly<Record<string, ServiceApp>> = {
  emr: service(emrConfig, (c) => EmrModule.forRoot(c)),
  lis: service(lisConfig, (c) => LisModule.forRoot(c)),
  pacs: service(pacsConfig, (c) => PacsModule.forRoot(c)),
  pharmacy: service(dispensingConfig, (c) => DispensingModule.forRoot(c)),
  'pharmacy-inventory': service(inventoryConfig, (c) => InventoryModule.forRoot(c)),
  'pharmacy-supply-chain': service(supplyChainConfig, (c) => SupplyChainModule.forRoot(c)),
  'pharmacy-supplier': service(supplierConfig, (c) => SupplierModule.forRoot(c)),
  'pharmacy-messages': service(messageServerConfig, (c) => MessageServerModule.forRoot(c)),
  'icu-monitor': service(icuMonitorConfig, (c) => IcuMonitorModule.forRoot(c)),
  'icu-station': service(icuStationConfig, (c) => IcuStationModule.forRoot(c)),
  appointments: service(appointmentsConfig, (c) => AppointmentsModule.forRoot(c)),
  'care-plans': service(carePlansConfig, (c) => CarePlansModule.forRoot(c)),
  telemedicine: service(telemedicineConfig, (c) => TelemedicineModule.forRoot(c)),
  'referral-inbox': service(referralInboxConfig, (c) => ReferralInboxModule.forRoot(c)),
  gateway: service(
    gatewayConfig,
    (c) => GatewayModule.forRoot(c),
    () => ({ ...fhir(), parseBodies: false }),
  ),
  audit: service(auditConfig, (c) => AuditModule.forRoot(c)),
};
