// Formatting shared by the screens: instants, badge colours and generic values.

const pad = (n: number): string => String(n).padStart(2, '0');

/** `2026-12-06 14:03:07` in local time; the text itself when it is not an instant. */
export function formatInstant(value: unknown): string {
  if (typeof value !== 'string' || value === '') return '—';
  const date = new Date(value);
  if (Number.isNaN(date.getTime())) return value;
  return (
    `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())} ` +
    `${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}`
  );
}

/** The input value of a `datetime-local` field for an instant (local time, minutes). */
export function toLocalInput(date: Date): string {
  return (
    `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}` +
    `T${pad(date.getHours())}:${pad(date.getMinutes())}`
  );
}

/** The ISO instant of a `datetime-local` value; undefined when empty or invalid. */
export function fromLocalInput(value: string): string | undefined {
  if (value === '') return undefined;
  const date = new Date(value);
  return Number.isNaN(date.getTime()) ? undefined : date.toISOString();
}

export type Tone = 'ok' | 'bad' | 'busy' | 'warn' | 'neutral';

/** The colour of a state badge, from the words a protocol uses for its states. */
export function toneOf(state: string): Tone {
  const s = state.toLowerCase();
  if (/fail|refus|error|dead|heuristic|stuck/.test(s)) return 'bad';
  if (/abort|cancel|compensated|rolled|reject/.test(s)) return 'warn';
  if (/commit(ted)?$|complete|confirm|deliver|publish|done|succe|applied|sent|acknowledg|ok$/.test(s))
    return 'ok';
  if (/ing$|pending|prepar|try|start|wait|retry|progress|open/.test(s)) return 'busy';
  return 'neutral';
}

/** Plain text of any JSON value, short enough for a table cell. */
export function displayValue(value: unknown): string {
  if (value === undefined || value === null || value === '') return '—';
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  if (Array.isArray(value) && value.every((v) => typeof v !== 'object' || v === null))
    return value.map(String).join(', ');
  return JSON.stringify(value);
}

/** True when `needle` (lower case) occurs in any string or number of `value`, however deep. */
export function containsText(value: unknown, needle: string): boolean {
  if (needle === '') return true;
  if (typeof value === 'string') return value.toLowerCase().includes(needle);
  if (typeof value === 'number') return String(value).includes(needle);
  if (Array.isArray(value)) return value.some((v) => containsText(v, needle));
  if (typeof value === 'object' && value !== null)
    return Object.values(value as Record<string, unknown>).some((v) => containsText(v, needle));
  return false;
}
