import type { INestApplication } from '@nestjs/common';
import { ServerMqtt } from '@nestjs/microservices';
import type { IClientSubscribeOptions, MqttClient } from 'mqtt';
import { environmentOf, type ServiceConfig } from '@hospital/platform';
import { FeedAcks } from './feed-acks';
import { MqttFeedEnvironment } from './feed.environment';
import { canonicalRoute, withPrefix } from './feed-topics';

/** A packet as mqtt.js hands it to `handleMessage`. */
type IncomingPacket = Parameters<MqttClient['handleMessage']>[0];

const SUBSCRIBE: IClientSubscribeOptions = { qos: 1 };

/**
 * Nest's MQTT server, acknowledging a QoS 1 message only after its handler has settled it.
 *
 * Nest's `ServerMqtt` hands the message to the handler from mqtt.js's `message` event, which mqtt.js emits
 * just before it sends the PUBACK: with Nest alone, a message is acked on receipt, before its vital is
 * stored (and `customHandleAcks` does not help: it runs before the `message` event, so it cannot wait for
 * the handler). mqtt.js sends that PUBACK only once `client.handleMessage(packet, callback)` calls back —
 * its documented hook for processing with back-pressure. This server sets that hook on the client Nest
 * creates: it waits for Nest's handling of the same packet and calls back without an error (PUBACK) only
 * if the handler marked the packet settled in `FeedAcks`; otherwise with an error (no PUBACK, the broker
 * keeps the message for the session). mqtt.js handles incoming packets one at a time, so the next message
 * is read once this one is settled.
 *
 * Handlers name topics under the canonical `icu/`; this server subscribes under `MQTT_TOPIC_PREFIX`.
 */
export class VitalsFeedServer extends ServerMqtt {
  private readonly handling = new WeakMap<object, Promise<unknown>>();
  private readonly acking = new Set<Promise<void>>();

  constructor(
    options: ConstructorParameters<typeof ServerMqtt>[0],
    private readonly acks: FeedAcks,
    private readonly prefix: string,
  ) {
    super(options);
  }

  override async createMqttClient(): Promise<MqttClient> {
    const client = (await super.createMqttClient()) as MqttClient;
    client.handleMessage = (packet, callback) => this.ackWhenSettled(packet, callback);
    return client;
  }

  override bindEvents(client: MqttClient): void {
    const handle = this.getMessageHandler(client).bind(this);
    client.on('message', (topic, payload, packet) => void handle(topic, payload, packet));
    for (const pattern of this.messageHandlers.keys()) {
      client.subscribe(withPrefix(pattern, this.prefix), SUBSCRIBE);
    }
  }

  override getHandlerByPattern(topic: string) {
    return super.getHandlerByPattern(canonicalRoute(topic, this.prefix));
  }

  override handleMessage(
    channel: string,
    buffer: Buffer,
    pub: MqttClient,
    originalPacket?: Record<string, unknown>,
  ): Promise<unknown> {
    const handled = super.handleMessage(channel, buffer, pub, originalPacket);
    if (originalPacket !== undefined)
      this.handling.set(
        originalPacket,
        handled.catch(() => undefined),
      );
    return handled;
  }

  /** Waits for the messages being settled to be acked (or left), then disconnects. */
  // eslint-disable-next-line @typescript-eslint/no-misused-promises -- Nest awaits a server's close()
  override async close(): Promise<void> {
    await Promise.all([...this.acking]);
    super.close();
  }

  private ackWhenSettled(packet: IncomingPacket, callback: (error?: Error) => void): void {
    const handled = this.handling.get(packet) ?? Promise.resolve();
    this.handling.delete(packet);
    const acked = handled.then(() => {
      if (this.acks.take(packet)) callback();
      else callback(new Error('MQTT message not settled: left unacknowledged for redelivery'));
    });
    this.acking.add(acked);
    void acked.finally(() => this.acking.delete(acked));
  }
}

/**
 * Connects the bedside feed to `app` as a Nest microservice (unless `MQTT_FEED=false`) and starts it:
 * a persistent session (`clean: false`, `MQTT_CLIENT_ID`) subscribed with QoS 1 to
 * `<MQTT_TOPIC_PREFIX>/beds/+/vitals`. Call before `listen` (`ServiceAppOptions.beforeListen`).
 */
export async function connectVitalsFeed(app: INestApplication, config: ServiceConfig): Promise<void> {
  const settings = environmentOf(config, MqttFeedEnvironment);
  if (settings.MQTT_FEED !== 'true') return;
  const server = new VitalsFeedServer(
    {
      url: settings.MQTT_URL,
      clientId: settings.MQTT_CLIENT_ID,
      clean: false,
      reconnectPeriod: 1_000,
      // A broker that cannot be reached at start fails the start (about 10 s) instead of hanging it; once
      // connected, mqtt.js reconnects for good.
      maxConnectionAttempts: 10,
      subscribeOptions: { qos: 1 },
      // Every message is an event carrying its payload as is (no Nest request/reply envelope).
      deserializer: {
        deserialize: (value: unknown, options?: { channel?: string }) => ({
          pattern: options?.channel,
          data: value,
        }),
      },
    },
    app.get(FeedAcks),
    settings.MQTT_TOPIC_PREFIX,
  );
  app.connectMicroservice({ strategy: server });
  await app.startAllMicroservices();
}
