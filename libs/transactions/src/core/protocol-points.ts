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
  | '2pc.participant.before-commit';

export type ProtocolPoints = (point: ProtocolPoint, gtid: string) => void;

export const noProtocolPoints: ProtocolPoints = () => undefined;

export const ALL_PROTOCOL_POINTS: readonly ProtocolPoint[] = [
  '2pc.coordinator.before-decision',
  '2pc.coordinator.after-decision',
  '2pc.coordinator.mid-phase-two',
  '2pc.participant.before-prepare',
  '2pc.participant.after-prepare',
  '2pc.participant.before-commit',
];

export function isProtocolPoint(value: string): value is ProtocolPoint {
  return (ALL_PROTOCOL_POINTS as readonly string[]).includes(value);
}
