// The replica trial of best-effort notification: bookings at appointments, each confirmed by e-mail to the
// practitioner and by SMS and push to the patient through the simulated receivers; an appointments replica
// killed mid-load. Every booking is logged with its confirmations in one local transaction, and the
// surviving replica's dispatcher delivers what the dead one had claimed once its lease runs out.
import { appointmentBooking } from '../lib/sample-resources';
import {
  type FreeSlot,
  idOf,
  openFreeSlots,
  replicaUrl,
  send,
  type Trial,
  type Verdict,
} from './replica-trial-kit';

const PRACTITIONER = 'prac-0002';
/** Days of the practitioner's slots of the trial's own, far ahead of the demo's and the plans'. */
const FIRST_DAY = 80;
const DAYS = 6;
/** Confirmations per booking: e-mail to the practitioner, SMS and push to the patient (test-docker's env). */
const CHANNELS = ['clinician:email', 'patient:sms', 'patient:push'];

interface NotificationRow {
  key: string;
  state: 'pending' | 'delivered' | 'dead-lettered';
  appointment: string;
  recipient: string;
  channel: string;
}

export function bestEffort(): Trial {
  const slots: FreeSlot[] = [];
  let startedAt = '';
  let lastPosition = 0;
  return {
    style: 'best-effort',
    victim: 'appointments',
    port: 3006,
    // Bookings take tens of milliseconds: killed early, while they still come.
    killAtMs: 2_000,
    prepare: async (ctx, db) => {
      [{ now: startedAt, position: lastPosition }] = await db.rows<{ now: string; position: number }>(
        'appointments',
        'SELECT now()::text AS now, coalesce(max(position), 0)::int AS position FROM tx_notification',
      );
      const appointments = await replicaUrl(ctx, 'appointments', 3006);
      slots.push(...(await openFreeSlots(appointments, PRACTITIONER, FIRST_DAY, DAYS)));
    },
    // One booking per slot, each for a patient of its own.
    request: async (base, n) => {
      const slot = slots[n];
      if (slot === undefined) return undefined;
      const answer = await send(
        `${base}/fhir/Appointment`,
        'clinician',
        'POST',
        appointmentBooking(slot, `pat-${String(1 + (n % 290)).padStart(4, '0')}`, PRACTITIONER),
      );
      return { ...answer, key: slot.slotId };
    },
    check: async (answers, db, _killedAt, ctx) => {
      const verdict: Verdict = { lost: [], duplicated: [], inDoubt: [], summary: '' };
      // Every booking of the trial, those whose answers died with the replica included.
      const booked = (
        await db.rows<{ id: string }>(
          'appointments',
          `SELECT id FROM fhir_resource WHERE resource_type = 'Appointment' AND last_updated >= $1::timestamptz`,
          [startedAt],
        )
      ).map((r) => r.id);
      const rows = await db.rows<NotificationRow>(
        'appointments',
        `SELECT idempotency_key AS key, state, payload->>'appointmentId' AS appointment,
                payload->>'recipient' AS recipient, channel
           FROM tx_notification WHERE position > $1`,
        [lastPosition],
      );
      const answer = await fetch(`${ctx.published('confirmation-receivers')}/arrivals`, {
        signal: AbortSignal.timeout(10_000),
      });
      if (answer.status !== 200) throw new Error(`the receivers' arrivals: HTTP ${answer.status}`);
      const arrivals = new Map(
        ((await answer.json()) as { key: string; repeats: number }[]).map((a) => [a.key, a.repeats]),
      );
      for (const answered of answers) {
        const id = idOf(answered);
        if (answered.status === 201 && (id === undefined || !booked.includes(id)))
          verdict.lost.push(`booking ${id ?? '?'} answered 201, not stored`);
      }
      for (const appointment of booked) {
        const mine = rows.filter((r) => r.appointment === appointment);
        for (const channel of CHANNELS) {
          const logged = mine.filter((r) => `${r.recipient}:${r.channel}` === channel);
          if (logged.length === 0)
            verdict.lost.push(`Appointment/${appointment}: no ${channel} confirmation logged`);
          if (logged.length > 1)
            verdict.duplicated.push(`Appointment/${appointment}: ${logged.length} ${channel} confirmations`);
        }
      }
      for (const row of rows) {
        if (row.state === 'pending') verdict.inDoubt.push(`${row.key} still pending`);
        else if (row.state === 'dead-lettered') verdict.lost.push(`${row.key} dead-lettered`);
        else if (!arrivals.has(row.key)) verdict.lost.push(`${row.key} marked delivered, never received`);
      }
      const repeats = rows.reduce((n, row) => n + (arrivals.get(row.key) ?? 0), 0);
      verdict.summary = `${booked.length} bookings, ${rows.length} confirmations delivered once each (${repeats} repeat(s) the receivers dropped)`;
      return verdict;
    },
  };
}
