import type { INestApplication } from '@nestjs/common';
import { ServerMqtt } from '@nestjs/microservices';
import type { IClientSubscribeOptions, MqttClient } from 'mqtt';
import { environmentOf, type ServiceConfig } from '@hospital/platform';
import { FeedAcks } from './feed-acks';
import { MqttFeedEnvironment } from './feed.environment';
import { canonicalRoute, withPrefix } from './feed-topics';

/** A packet as mqtt.js hands it to `handleMessage`. */
type IncomingPacket = Parameters<MqttClient['handleMessage']>[0];

/** mqtt.js's own packet writer, which its handlers use for the PUBACK (not part of its typed API). */
interface PacketWriter {
  _sendPacket(packet: { cmd: 'puback'; messageId: number }, callback: () => void): void;
}

/** A QoS 1 message received on one connection, waiting for its turn to be acknowledged. */
interface Unacked {
  packet: IncomingPacket;
  /** The connection it came on: a PUBACK belongs to it (packet ids are reused on the next one). */
  stream: unknown;
  /** Resolves once Nest's handler has finished with it. */
  handled: Promise<unknown>;
}

const SUBSCRIBE: IClientSubscribeOptions = { qos: 1 };
/** Messages handled between two turns of the event loop. */
const YIELD_EVERY = 16;
/** Topics whose handler is remembered (a unit's beds; forgotten all at once past this). */
const HANDLER_CACHE_SIZE = 10_000;
/** What mqtt.js is called back with to leave a message unacknowledged (one instance: no stack per message). */
const NOT_YET_ACKNOWLEDGED = new Error('acknowledged once settled');

/**
 * Nest's MQTT server, acknowledging a QoS 1 message only after its handler has settled it, and letting
 * many messages be handled at once.
 *
 * Nest's `ServerMqtt` hands the message to the handler from mqtt.js's `message` event, and mqtt.js sends
 * the PUBACK as soon as `client.handleMessage(packet, callback)` calls back — which also gates the next
 * packet: one message at a time, acknowledged whether or not its vital was stored. This server sets that
 * hook on the client Nest creates: it calls back at once with no acknowledgement (mqtt.js then reads the
 * next packet; the broker's in-flight window, the session's `receiveMaximum`, bounds how many are
 * handled at once — and so how many vitals one group commit can gather), and queues the packet. A packet
 * is acknowledged once the handler has marked it settled in `FeedAcks` (its vital committed, or refused
 * and dead-lettered), in the order the packets came (MQTT 4.6), and only on the connection it came on. A
 * packet not settled (the monitor shutting down) is never acknowledged: the broker delivers it again on
 * the session's next connection.
 *
 * Handlers name topics under the canonical `icu/`; this server subscribes under `MQTT_TOPIC_PREFIX`.
 */
export class VitalsFeedServer extends ServerMqtt {
  private readonly handling = new WeakMap<object, Promise<unknown>>();
  private readonly unacked: Unacked[] = [];
  private readonly handlers = new Map<string, ReturnType<ServerMqtt['getHandlerByPattern']>>();
  private releasing: Promise<void> = Promise.resolve();
  private sinceYield = 0;
  private corked = false;

  constructor(
    options: ConstructorParameters<typeof ServerMqtt>[0],
    private readonly acks: FeedAcks,
    private readonly prefix: string,
  ) {
    super(options);
  }

  override async createMqttClient(): Promise<MqttClient> {
    const client = (await super.createMqttClient()) as MqttClient;
    client.handleMessage = (packet, callback) => {
      this.enqueue(client, packet);
      // An error is mqtt.js's way of leaving a message unacknowledged; it goes on with the next packet —
      // at once, within the same tick, for all the packets of what it read. Every YIELD_EVERY messages it
      // goes on after the event loop's I/O instead, so that the vitals' own database round trips are not
      // held behind a whole window of incoming messages being validated.
      if (++this.sinceYield < YIELD_EVERY) return callback(NOT_YET_ACKNOWLEDGED);
      this.sinceYield = 0;
      setImmediate(() => callback(NOT_YET_ACKNOWLEDGED));
    };
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
    // Nest finds a topic's handler by trying JSON.parse on it (a thrown error per message) and then the
    // wildcard patterns; a bed's topic always finds the same one.
    let handler = this.handlers.get(topic);
    if (handler === undefined) {
      handler = super.getHandlerByPattern(canonicalRoute(topic, this.prefix));
      if (this.handlers.size >= HANDLER_CACHE_SIZE) this.handlers.clear();
      this.handlers.set(topic, handler);
    }
    return handler;
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

  /** Waits for the messages being handled to be acknowledged (or left), then disconnects. */
  // eslint-disable-next-line @typescript-eslint/no-misused-promises -- Nest awaits a server's close()
  override async close(): Promise<void> {
    await this.releasing;
    super.close();
  }

  private enqueue(client: MqttClient, packet: IncomingPacket): void {
    const handled = this.handling.get(packet) ?? Promise.resolve();
    this.handling.delete(packet);
    if (packet.qos !== 1) return;
    this.unacked.push({ packet, stream: client.stream, handled });
    // One release chain: each packet waits for its handler and for every packet before it.
    this.releasing = this.releasing.then(() => this.release(client));
  }

  private async release(client: MqttClient): Promise<void> {
    const next = this.unacked.shift();
    if (next === undefined) return;
    await next.handled;
    const { packet } = next;
    if (!this.acks.take(packet) || packet.messageId === undefined) return;
    if (!client.connected || client.stream !== next.stream) return;
    // The PUBACKs a group's commit releases go out in one write, not one system call each.
    if (!this.corked) {
      this.corked = true;
      client.stream.cork();
      process.nextTick(() => {
        this.corked = false;
        client.stream.uncork();
      });
    }
    (client as unknown as PacketWriter)._sendPacket({ cmd: 'puback', messageId: packet.messageId }, () => {});
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
      // MQTT 5: the session outlives the connection (kept by the broker while the monitor is away), and
      // the broker may have up to MQTT_RECEIVE_MAXIMUM vitals in flight to the monitor at once.
      protocolVersion: 5,
      properties: {
        sessionExpiryInterval: settings.MQTT_SESSION_EXPIRY_S,
        receiveMaximum: settings.MQTT_RECEIVE_MAXIMUM,
      },
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
