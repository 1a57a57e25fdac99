/** SQL fragments shared by the leased PostgreSQL logs (`tx_saga`, `tx_tcc`), and what their browsers share. */

/** One timeline entry whose text is parameter `$n`, appended with `timeline || …`. */
export const timelineEvent = (n: number): string =>
  `jsonb_build_array(jsonb_build_object('at', now(), 'event', $${n}::text))`;

/** The end of a lease (or back-off) of parameter `$n` milliseconds from now. */
export const msFromNow = (n: number): string => `now() + $${n}::float8 * interval '1 millisecond'`;

/** An instant as `/api/transactions` shows it (ISO 8601, UTC), from a column or a timeline's JSON. */
export const isoInstant = (at: Date | string): string => new Date(at).toISOString();
