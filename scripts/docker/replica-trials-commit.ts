// The replica trials of the commit protocols: 2PC (record updates at the EMR, an EMR replica killed) and
// 3PC (consult completions at telemedicine, an EMR replica, a participant, killed).
import { randomUUID } from 'node:crypto';
import { recordUpdateBundle } from '../lib/sample-bundle';
import { completeConsult, openConsult } from '../lib/telemedicine-cluster';
import { devAuthorization } from '../services';
import { MRN_SYSTEM, preparedIn, send, type Trial, type Verdict } from './replica-trial-kit';

// ── 2PC: record updates at the EMR ──────────────────────────────────────────────────────────────────────

export function twoPhaseCommit(): Trial {
  const prefix = `REPL-${randomUUID().slice(0, 6)}`;
  const parts = ['emr', 'lis', 'pacs'] as const;
  return {
    style: '2pc',
    victim: 'emr',
    port: 3001,
    request: async (base, n) => ({
      ...(await send(`${base}/fhir`, 'clinician', 'POST', recordUpdateBundle(n, prefix))),
      key: `${prefix}-${n}`,
    }),
    check: async (answers, db) => {
      const counts = new Map<string, Record<string, number>>();
      for (const part of parts)
        for (const row of await db.rows<{ mrn: string; n: number }>(
          part,
          `SELECT i->>'value' AS mrn, count(*)::int AS n
             FROM fhir_resource, jsonb_array_elements(content->'identifier') i
            WHERE resource_type = 'Patient' AND NOT deleted AND i->>'system' = $1 AND i->>'value' LIKE $2
            GROUP BY 1`,
          [MRN_SYSTEM, `${prefix}-%`],
        ))
          counts.set(row.mrn, { ...(counts.get(row.mrn) ?? {}), [part]: row.n });
      const verdict: Verdict = { lost: [], duplicated: [], inDoubt: [], summary: '' };
      for (const answer of answers) {
        const found = counts.get(answer.key) ?? {};
        const copies = parts.map((p) => found[p] ?? 0);
        if (copies.some((c) => c > 1)) verdict.duplicated.push(`${answer.key}: ${copies.join('/')}`);
        else if (answer.status === 200 && copies.some((c) => c === 0))
          verdict.lost.push(`${answer.key} answered 200, held ${copies.join('/')} (EMR/LIS/PACS)`);
        else if (new Set(copies).size > 1) verdict.inDoubt.push(`${answer.key} split ${copies.join('/')}`);
      }
      const unfinished = await db.rows<{ gtid: string; state: string }>(
        'emr',
        `SELECT gtid, state FROM tx_global WHERE style = '2pc' AND state NOT IN ('committed', 'aborted')`,
      );
      verdict.inDoubt.push(...unfinished.map((u) => `${u.gtid} ${u.state}`));
      verdict.inDoubt.push(...(await preparedIn(db, parts)));
      const committed = [...counts.values()].filter((c) => parts.every((p) => c[p] === 1)).length;
      verdict.summary = `${committed} record updates in all of the EMR, the LIS and the PACS`;
      return verdict;
    },
  };
}

// ── 3PC: consult completions at telemedicine, the EMR a participant ────────────────────────────────────

/** Consults opened before the 3PC trial's load, each completed once by it. */
const CONSULTS = 160;

export function threePhaseCommit(): Trial {
  const consults: string[] = [];
  /** The part each service writes of a completed consult, counted by the request it is based on. */
  const parts = {
    emr: "SELECT count(*)::int AS n FROM fhir_resource WHERE resource_type = 'DiagnosticReport' AND NOT deleted AND content->'basedOn' @> $1::jsonb",
    'referral-inbox':
      "SELECT count(*)::int AS n FROM fhir_resource WHERE resource_type = 'Communication' AND NOT deleted AND content->'basedOn' @> $1::jsonb",
    telemedicine:
      "SELECT count(*)::int AS n FROM fhir_resource WHERE resource_type = 'ServiceRequest' AND id = $1 AND content->>'status' = 'completed'",
  } as const;
  return {
    style: '3pc',
    victim: 'emr',
    port: 3001,
    loadAt: 'consult completions at telemedicine',
    // A completion takes a few hundred milliseconds: enough consults open that completions are still
    // running when the replica dies, two seconds in.
    killAtMs: 2_000,
    prepare: async (ctx) => {
      const opened = await Promise.all(
        Array.from({ length: 8 }, async (_, worker) => {
          const mine: string[] = [];
          for (let i = worker; i < CONSULTS; i += 8)
            mine.push(
              (
                await openConsult(
                  ctx.published('telemedicine'),
                  `pat-${String(10 + (i % 250)).padStart(4, '0')}`,
                )
              ).serviceRequestId,
            );
          return mine;
        }),
      );
      consults.push(...opened.flat());
    },
    // Telemedicine coordinates; the EMR replicas take its calls as a participant.
    request: async (_base, n, ctx) => {
      const id = consults[n];
      if (id === undefined) return undefined;
      const done = await completeConsult(ctx.published('telemedicine'), id, {
        authorization: devAuthorization('clinician'),
      });
      return { key: id, status: done.status ?? 'error', body: done.body };
    },
    check: async (answers, db) => {
      const verdict: Verdict = { lost: [], duplicated: [], inDoubt: [], summary: '' };
      let completed = 0;
      for (const answer of answers) {
        const basedOn = JSON.stringify([{ reference: `ServiceRequest/${answer.key}` }]);
        const copies: number[] = [];
        for (const [service, sql] of Object.entries(parts)) {
          const params = [service === 'telemedicine' ? answer.key : basedOn];
          const [{ n }] = await db.rows<{ n: number }>(service, sql, params);
          copies.push(n);
        }
        const shown = `${copies.join('/')} (EMR/inbox/telemedicine)`;
        if (copies.some((c) => c > 1)) verdict.duplicated.push(`consult ${answer.key}: ${shown}`);
        else if (answer.status === 200 && copies.some((c) => c === 0))
          verdict.lost.push(`consult ${answer.key} answered 200, held ${shown}`);
        else if (new Set(copies).size > 1) verdict.inDoubt.push(`consult ${answer.key} split ${shown}`);
        else if (copies[0] === 1) completed += 1;
      }
      const unfinished = await db.rows<{ gtid: string; state: string }>(
        'telemedicine',
        `SELECT gtid, state FROM tx_global WHERE style = '3pc' AND state NOT IN ('committed', 'aborted')`,
      );
      verdict.inDoubt.push(...unfinished.map((u) => `${u.gtid} ${u.state}`));
      verdict.inDoubt.push(...(await preparedIn(db, Object.keys(parts))));
      verdict.summary = `${completed} consults completed in the EMR, the inbox and telemedicine`;
      return verdict;
    },
  };
}
