import type { FactoryProvider } from '@nestjs/common';
import type { Logger } from 'pino';
import {
  environmentOf,
  MessagingEnvironment,
  ROOT_LOGGER,
  SERVICE_CONFIG,
  type ServiceConfig,
} from '@hospital/platform';
import { RabbitMqConnection } from '../adapters/rabbitmq/rabbitmq-connection';
import { protocolLogger } from './observability';

/**
 * The service's RabbitMQ connection (AMQP_URL, MESSAGING_NAMESPACE of `MessagingEnvironment`), named after
 * the service. Built when the module is: a service whose config lacks the messaging piece fails at boot.
 */
export const rabbitMqConnectionProvider: FactoryProvider<RabbitMqConnection> = {
  provide: RabbitMqConnection,
  inject: [SERVICE_CONFIG, ROOT_LOGGER],
  useFactory: (config: ServiceConfig, logger: Logger) => {
    const env = environmentOf(config, MessagingEnvironment);
    return new RabbitMqConnection(
      env.AMQP_URL,
      config.service.name,
      env.MESSAGING_NAMESPACE,
      protocolLogger(logger),
    );
  },
};
