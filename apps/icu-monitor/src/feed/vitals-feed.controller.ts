import { Controller, Inject } from '@nestjs/common';
import { Ctx, EventPattern, MqttContext, Payload } from '@nestjs/microservices';
import { FeedAcks } from './feed-acks';
import { VITALS_TOPIC_PATTERN } from './feed-topics';
import { VitalsFeedService } from './vitals-feed.service';

/**
 * The bedside feed's handler (thin): one vital per message on `<prefix>/beds/<bedId>/vitals`, settled by
 * `VitalsFeedService`; a settled packet is marked for its PUBACK (`VitalsFeedServer`).
 */
@Controller()
export class VitalsFeedController {
  constructor(
    @Inject(VitalsFeedService) private readonly feed: VitalsFeedService,
    @Inject(FeedAcks) private readonly acks: FeedAcks,
  ) {}

  @EventPattern<string>(VITALS_TOPIC_PATTERN)
  async vital(@Payload() payload: unknown, @Ctx() context: MqttContext): Promise<void> {
    const packet = context.getPacket();
    const raw = Buffer.isBuffer(packet.payload) ? packet.payload : Buffer.from(String(packet.payload ?? ''));
    if (await this.feed.receive(context.getTopic(), payload, raw)) this.acks.settle(packet);
  }
}
