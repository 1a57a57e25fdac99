import { toneOf } from '../format';

/** A state as a coloured badge: green done, amber in flight, orange rolled back, red failed. */
export function Badge({ state }: { state: string }) {
  return <span className={`badge tone-${toneOf(state)}`}>{state}</span>;
}
