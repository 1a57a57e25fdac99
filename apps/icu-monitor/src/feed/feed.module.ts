import { Module } from '@nestjs/common';
import { VitalsModule } from '../vitals/vitals.module';
import { DeadLetterPublisher } from './dead-letter.publisher';
import { FeedAcks } from './feed-acks';
import { VitalsFeedController } from './vitals-feed.controller';
import { VitalsFeedService } from './vitals-feed.service';

/**
 * The bedside device feed over MQTT: its handler, the service that settles each message through
 * `VitalsService`, the dead-letter publisher, and `FeedAcks` (shared with `VitalsFeedServer`, which
 * `connectVitalsFeed` connects to the app).
 */
@Module({
  imports: [VitalsModule],
  controllers: [VitalsFeedController],
  providers: [VitalsFeedService, DeadLetterPublisher, FeedAcks],
  exports: [FeedAcks],
})
export class FeedModule {}
