/**
 * Named instants of a protocol run. Cores announce them through `ProtocolPoints`; production wires
 * nothing, and the fault runner wires a hook that kills the process at a chosen point (SIGKILL), so
 * crashes happen exactly where the recovery argument says they may.
 */
export type ProtocolPoint =
  | '2pc.coordinator.before-decision'
  | '2pc.coordinator.after-decision'
  | '2pc.coordinator.mid-phase-two'
  | '2pc.participant.before-prepare'
  | '2pc.participant.after-prepare'
  | '2pc.participant.before-commit'
  /** Outbox relay: half of a claimed batch is confirmed by the broker, nothing is marked published yet. */
  | 'outbox.relay.mid-batch'
  /** Outbox relay: the whole batch is confirmed, before it is marked published. */
  | 'outbox.relay.after-publish'
  /** Inbox consumer: the effect and inbox rows are committed, before the broker is acknowledged. */
  | 'outbox.consumer.after-commit'
  /** Two-phase message producer: the message is prepared at the server, before the local transaction. */
  | 'message.producer.after-prepare'
  /** Two-phase message producer: the local transaction (with its barrier row) committed, before submit. */
  | 'message.producer.after-local-commit'
  /** Two-phase message server: the message is confirmed by the broker, before it is marked delivered. */
  | 'message.server.after-publish'
  /** Best-effort dispatcher: an attempt is begun (recorded, leased), before the channel is called. */
  | 'best-effort.dispatcher.before-delivery'
  /** Best-effort dispatcher: the channel answered delivered, before the outcome is recorded. */
  | 'best-effort.dispatcher.after-delivery';

export type ProtocolPoints = (point: ProtocolPoint, gtid: string) => void;

export const noProtocolPoints: ProtocolPoints = () => undefined;

export const ALL_PROTOCOL_POINTS: readonly ProtocolPoint[] = [
  '2pc.coordinator.before-decision',
  '2pc.coordinator.after-decision',
  '2pc.coordinator.mid-phase-two',
  '2pc.participant.before-prepare',
  '2pc.participant.after-prepare',
  '2pc.participant.before-commit',
  'outbox.relay.mid-batch',
  'outbox.relay.after-publish',
  'outbox.consumer.after-commit',
  'message.producer.after-prepare',
  'message.producer.after-local-commit',
  'message.server.after-publish',
  'best-effort.dispatcher.before-delivery',
  'best-effort.dispatcher.after-delivery',
];

/** The points of one style, by prefix (`2pc`, `outbox`, `message`, `best-effort`). */
export function protocolPointsOf(style: '2pc' | 'outbox' | 'message' | 'best-effort'): ProtocolPoint[] {
  return ALL_PROTOCOL_POINTS.filter((point) => point.startsWith(`${style}.`));
}

export function isProtocolPoint(value: string): value is ProtocolPoint {
  return (ALL_PROTOCOL_POINTS as readonly string[]).includes(value);
}
