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
  | 'best-effort.dispatcher.after-delivery'
  /** Saga orchestrator: the step's start is logged, before its action is called. */
  | 'saga.orchestrator.before-action'
  /** Saga orchestrator: the action succeeded, before the step is logged done. */
  | 'saga.orchestrator.after-action'
  /** Saga orchestrator: the step is logged done (with its result), before the next step starts. */
  | 'saga.orchestrator.after-step-logged'
  /** Saga orchestrator: the step's failure (and the saga's turn to compensation) is logged, nothing undone yet. */
  | 'saga.orchestrator.after-failure-logged'
  /** Saga orchestrator: a compensation succeeded, before it is logged (earlier steps not yet undone). */
  | 'saga.orchestrator.mid-compensation'
  /** TCC coordinator: the transaction is logged `trying`, before any Try is sent. */
  | 'tcc.coordinator.before-try'
  /** TCC coordinator: the decision (confirming or cancelling) is logged, nothing confirmed or cancelled yet. */
  | 'tcc.coordinator.after-decision'
  /** TCC coordinator: the first branch is confirmed or cancelled, the others not yet. */
  | 'tcc.coordinator.mid-phase-two'
  /** Quota-cached saga: the saga is logged (with the caller's draft), before any reservation. */
  | 'quota-saga.coordinator.after-begin'
  /** Quota-cached saga: every reservation is made in the caches, none held yet. */
  | 'quota-saga.coordinator.after-reserve'
  /** Quota-cached saga: every reservation is held, before the completion is committed. */
  | 'quota-saga.coordinator.after-hold'
  /** 3PC coordinator: every participant voted YES at CanCommit, nothing pre-committed yet. */
  | '3pc.coordinator.after-can-commit'
  /** 3PC coordinator: `precommitting` is logged and one PreCommit was acknowledged, the others in flight. */
  | '3pc.coordinator.mid-pre-commit'
  /** 3PC coordinator: every participant is pre-committed, no DoCommit sent yet. */
  | '3pc.coordinator.after-pre-commit'
  /** 3PC coordinator: one participant acknowledged DoCommit, the others in flight. */
  | '3pc.coordinator.mid-do-commit'
  /** 3PC participant: its branch is prepared and its YES vote not yet answered. */
  | '3pc.participant.after-can-commit'
  /** 3PC participant: PreCommit is recorded, not yet acknowledged. */
  | '3pc.participant.after-pre-commit'
  /** 3PC participant: DoCommit arrived, the branch is not committed yet. */
  | '3pc.participant.before-do-commit';

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
  'saga.orchestrator.before-action',
  'saga.orchestrator.after-action',
  'saga.orchestrator.after-step-logged',
  'saga.orchestrator.after-failure-logged',
  'saga.orchestrator.mid-compensation',
  'tcc.coordinator.before-try',
  'tcc.coordinator.after-decision',
  'tcc.coordinator.mid-phase-two',
  'quota-saga.coordinator.after-begin',
  'quota-saga.coordinator.after-reserve',
  'quota-saga.coordinator.after-hold',
  '3pc.coordinator.after-can-commit',
  '3pc.coordinator.mid-pre-commit',
  '3pc.coordinator.after-pre-commit',
  '3pc.coordinator.mid-do-commit',
  '3pc.participant.after-can-commit',
  '3pc.participant.after-pre-commit',
  '3pc.participant.before-do-commit',
];

/** The points of one style, by prefix (`2pc`, `3pc`, `outbox`, `message`, `best-effort`, `saga`, `tcc`, `quota-saga`). */
export function protocolPointsOf(
  style: '2pc' | '3pc' | 'outbox' | 'message' | 'best-effort' | 'saga' | 'tcc' | 'quota-saga',
): ProtocolPoint[] {
  return ALL_PROTOCOL_POINTS.filter((point) => point.startsWith(`${style}.`));
}

export function isProtocolPoint(value: string): value is ProtocolPoint {
  return (ALL_PROTOCOL_POINTS as readonly string[]).includes(value);
}
