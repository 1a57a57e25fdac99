// The replica trials of the message styles: the outbox (dispenses at the pharmacy, a pharmacy replica
// killed) and two-phase messages (reorders at the supply chain, a supply-chain replica killed).
import { wardDispense } from '../lib/sample-resources';
import { sleep } from './process';
import { idOf, send, type Trial, type Verdict } from './replica-trial-kit';

// ── Outbox: dispenses at the pharmacy ───────────────────────────────────────────────────────────────────

export function outbox(): Trial {
  // A drug and ward the README's flows leave alone; each dispense takes one unit.
  const drug = '314076';
  const location = 'icu';
  let startedAt = '';
  return {
    style: 'outbox',
    victim: 'pharmacy',
    port: 3004,
    prepare: async (_ctx, db) => {
      [{ now: startedAt }] = await db.rows<{ now: string }>('pharmacy', 'SELECT now()::text AS now');
    },
    request: (base, n) =>
      send(
        `${base}/fhir/MedicationDispense`,
        'clinician',
        'POST',
        wardDispense(drug, location, `pat-${String(1 + (n % 200)).padStart(4, '0')}`, 1),
      ),
    check: async (answers, db) => {
      const dispensed = new Set(
        (
          await db.rows<{ id: string }>(
            'pharmacy',
            `SELECT id FROM fhir_resource
              WHERE resource_type = 'MedicationDispense' AND NOT deleted AND last_updated >= $1::timestamptz
                AND content->'location'->>'reference' = $2
                AND content->'medicationCodeableConcept'->'coding'->0->>'code' = $3`,
            [startedAt, `Location/${location}`, drug],
          )
        ).map((r) => r.id),
      );
      const applied = new Map<string, number>();
      for (const row of await db.rows<{ reference_id: string; n: number }>(
        'pharmacy-inventory',
        `SELECT reference_id, count(*)::int AS n FROM inventory_movement
          WHERE kind = 'dispense' AND medication_code = $1 AND location_id = $2 AND reference_id = ANY($3)
          GROUP BY 1`,
        [drug, location, [...dispensed]],
      ))
        applied.set(row.reference_id, row.n);
      const verdict: Verdict = { lost: [], duplicated: [], inDoubt: [], summary: '' };
      for (const answer of answers) {
        const id = idOf(answer);
        if (answer.status === 201 && (id === undefined || !dispensed.has(id)))
          verdict.lost.push(`dispense ${id ?? '?'} answered 201, not in the pharmacy`);
      }
      for (const id of dispensed) {
        const n = applied.get(id) ?? 0;
        if (n === 0) verdict.lost.push(`dispense ${id} not applied to the inventory`);
        if (n > 1) verdict.duplicated.push(`dispense ${id} applied ${n} times`);
      }
      const [{ unpublished }] = await db.rows<{ unpublished: number }>(
        'pharmacy',
        `SELECT count(*)::int AS unpublished FROM tx_outbox WHERE published_at IS NULL`,
      );
      if (unpublished > 0) verdict.inDoubt.push(`${unpublished} outbox message(s) not published`);
      verdict.summary = `${dispensed.size} dispenses in the pharmacy, ${applied.size} applied to the inventory`;
      return verdict;
    },
  };
}

// ── Two-phase messages: reorders at the supply chain ───────────────────────────────────────────────────

export function twoPhaseMessages(): Trial {
  // Ward stock lines the other trials and the README's flows leave alone: one dispense takes each under its
  // reorder point (400 on hand, reorder at 100), so the inventory opens a reorder and the supply chain
  // places its purchase order as a two-phase message.
  const lines = ['313782', '198440', '243670', '308182', '1665060', '745679'].flatMap((drug) =>
    ['ward-3a', 'icu'].map((location) => ({ drug, location })),
  );
  let startedAt = '';
  return {
    style: 'two-phase messages',
    victim: 'pharmacy-supply-chain',
    port: 3042,
    loadAt: 'dispenses through the gateway, each taking a stock line under its reorder point',
    killAtMs: 1_500,
    prepare: async (_ctx, db) => {
      [{ now: startedAt }] = await db.rows<{ now: string }>(
        'pharmacy-supply-chain',
        'SELECT now()::text AS now',
      );
    },
    // The dispenses go to the pharmacy; a second apart, so reorders are in flight when the replica dies.
    request: async (_base, n, ctx) => {
      const line = lines[n];
      if (line === undefined) return undefined;
      await sleep(1_000);
      const answer = await send(
        `${ctx.published('gateway')}/fhir/MedicationDispense`,
        'clinician',
        'POST',
        wardDispense(line.drug, line.location, 'pat-0003', 310),
      );
      return { ...answer, key: `${line.drug}@${line.location}` };
    },
    check: async (answers, db, killedAt) => {
      const verdict: Verdict = { lost: [], duplicated: [], inDoubt: [], summary: '' };
      const reorders = await db.rows<{
        key: string;
        reorder_id: string;
        state: string;
        po: string | null;
        gtid: string | null;
        placed_at: Date | null;
      }>(
        'pharmacy-supply-chain',
        `SELECT r.medication_code || '@' || r.location_id AS key, r.reorder_id, r.state,
                p.purchase_order_id AS po, p.gtid, p.placed_at
           FROM supply_reorder r LEFT JOIN supply_purchase_order p USING (reorder_id)
          WHERE r.origin = 'stock-low' AND r.created_at >= $1::timestamptz`,
        [startedAt],
      );
      const messages = new Map(
        (
          await db.rows<{ gtid: string; state: string }>(
            'pharmacy-messages',
            'SELECT gtid, state FROM tx_message WHERE gtid = ANY($1)',
            [reorders.flatMap((r) => (r.gtid ? [r.gtid] : []))],
          )
        ).map((m) => [m.gtid, m.state]),
      );
      const [{ prepared }] = await db.rows<{ prepared: number }>(
        'pharmacy-messages',
        `SELECT count(*)::int AS prepared FROM tx_message WHERE state = 'prepared'`,
      );
      if (prepared > 0) verdict.inDoubt.push(`${prepared} message(s) still prepared at the message server`);
      for (const answer of answers.filter((a) => a.status === 201)) {
        const mine = reorders.filter((r) => r.key === answer.key);
        if (mine.length === 0)
          verdict.lost.push(`${answer.key}: dispensed under its reorder point, no reorder`);
        if (mine.length > 1) verdict.duplicated.push(`${answer.key}: ${mine.length} reorders`);
        for (const reorder of mine) {
          if (reorder.po === null)
            verdict.inDoubt.push(`${answer.key}: reorder ${reorder.reorder_id} ${reorder.state}, no order`);
          else if (!['submitted', 'delivered'].includes(messages.get(reorder.gtid ?? '') ?? ''))
            verdict.lost.push(
              `${answer.key}: order ${reorder.po} placed, its message ${messages.get(reorder.gtid ?? '') ?? 'missing'}`,
            );
        }
      }
      const placed = reorders.filter((r) => r.po !== null);
      const after = placed.filter((r) => r.placed_at !== null && r.placed_at > killedAt).length;
      verdict.summary = `${placed.length} purchase orders placed (${after} by the survivor after the kill), each once, their messages submitted`;
      return verdict;
    },
  };
}
