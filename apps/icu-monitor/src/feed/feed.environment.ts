import { Transform } from 'class-transformer';
import { IsIn, IsInt, Matches, Max, Min } from 'class-validator';
import { toInt } from '@hospital/platform';

/** The bedside device feed over MQTT (`src/feed/`): where the broker is and which topics are the unit's. */
export class MqttFeedEnvironment {
  /** `false` runs the monitor without the feed (REST only). */
  @IsIn(['true', 'false']) MQTT_FEED: string = 'true';
  /** The broker, `mqtt://host:port` (or `mqtts://`). */
  @Matches(/^mqtts?:\/\/[^\s/]+(:\d+)?\/?$/, {
    message: 'MQTT_URL must be mqtt://host:port or mqtts://host:port',
  })
  MQTT_URL: string = 'mqtt://127.0.0.1:1883';
  /**
   * The session's client id. With a persistent session (`clean: false`) the broker keeps QoS 1 vitals
   * published while the monitor is away for the next client connecting with the same id.
   */
  @Matches(/^[A-Za-z0-9_.-]{1,64}$/, { message: 'MQTT_CLIENT_ID must be 1–64 of A–Z a–z 0–9 _ . -' })
  MQTT_CLIENT_ID: string = 'icu-monitor';
  /** The first topic level: vitals on `<prefix>/beds/<bedId>/vitals`, refusals on `<prefix>/dead-letter`. */
  @Matches(/^[A-Za-z0-9_-]{1,64}$/, {
    message: 'MQTT_TOPIC_PREFIX must be one topic level of A–Z a–z 0–9 _ -',
  })
  MQTT_TOPIC_PREFIX: string = 'icu';
  /**
   * How long the broker keeps the session (and the vitals queued for it) after the monitor disconnects, s.
   * A week by default; 4294967295 never ends it.
   */
  @Transform(toInt) @IsInt() @Min(60) @Max(4_294_967_295) MQTT_SESSION_EXPIRY_S: number = 604_800;
  /**
   * The most vitals the broker may have in flight to the monitor (received, not yet acknowledged): what one
   * group commit can gather from the feed. MQTT 5's Receive Maximum, 1–65535.
   */
  @Transform(toInt) @IsInt() @Min(1) @Max(65_535) MQTT_RECEIVE_MAXIMUM: number = 2_000;
}
