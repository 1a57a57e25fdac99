import { DynamicModule, MiddlewareConsumer, Module, NestModule } from '@nestjs/common';
import { environmentOf, PlatformModule } from '@hospital/platform';
import { BrokerAuditModule } from '@hospital/transactions';
import { GatewayEnvironment, type GatewayConfig } from './config';
import { RateLimitGuard } from './edge/rate-limit.guard';
import { securityHeaders } from './edge/security-headers';
import { GatewayHealthController } from './health/gateway-health.controller';
import { ApiGatewayController } from './proxy/api-gateway.controller';
import { FhirGatewayController } from './proxy/fhir-gateway.controller';
import { GatewayProxy } from './proxy/gateway-proxy';
import { Backends } from './routing/backends';

/**
 * The gateway: the hospital's one FHIR base in front of the services (GATEWAY_BACKENDS). It owns no
 * database; it routes, merges the CapabilityStatement, limits body size and request rate, and sets the
 * security headers of every answer. The requests it refuses itself (no token, scopes that do not cover the
 * request) are audited by publishing the records to the audit exchange (`BrokerAuditModule`).
 */
@Module({})
export class GatewayModule implements NestModule {
  static forRoot(config: GatewayConfig): DynamicModule {
    return {
      module: GatewayModule,
      imports: [
        PlatformModule.forRoot(config, {
          database: false,
          accessTokenCacheEntries: environmentOf(config, GatewayEnvironment).GATEWAY_TOKEN_CACHE_ENTRIES,
        }),
        BrokerAuditModule.forRoot(),
      ],
      controllers: [GatewayHealthController, FhirGatewayController, ApiGatewayController],
      providers: [Backends, GatewayProxy, RateLimitGuard],
    };
  }

  configure(consumer: MiddlewareConsumer): void {
    consumer.apply(securityHeaders).forRoutes('*path');
  }
}
