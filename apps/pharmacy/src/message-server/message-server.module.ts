import { DynamicModule, Module } from '@nestjs/common';
import { PlatformModule } from '@hospital/platform';
import { MessageTransactionModule, MessagingModule } from '@hospital/transactions';
import { PharmacyConfig } from '../config';

/**
 * The pharmacy's two-phase message server: producers (the supply chain's purchasing) prepare, submit and
 * abort messages here; it checks back with producers about messages left prepared and publishes submitted
 * ones to RabbitMQ with publisher confirms. It consumes nothing and has no outbox.
 */
@Module({})
export class MessageServerModule {
  static forRoot(config: PharmacyConfig): DynamicModule {
    return {
      module: MessageServerModule,
      imports: [
        PlatformModule.forRoot(config),
        MessagingModule.forRoot({}),
        MessageTransactionModule.forRoot(),
      ],
    };
  }
}
