import { ServiceConfig } from '@hospital/platform';
import { isProtocolPoint, noProtocolPoints, ProtocolPoints } from '../core/protocol-points';

/** The fault runner's hook: SIGKILL at the configured protocol point. Nothing unless FAULT_KILL_AT is set. */
export function faultPoints(config: ServiceConfig): ProtocolPoints {
  const target = config.env.FAULT_KILL_AT;
  if (target === undefined) return noProtocolPoints;
  if (!isProtocolPoint(target)) throw new Error(`FAULT_KILL_AT=${target} is not a protocol point`);
  return (point) => {
    if (point === target) process.kill(process.pid, 'SIGKILL');
  };
}
