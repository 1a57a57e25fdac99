import { Inject, Injectable } from '@nestjs/common';
import { Database, type AuditRecord, type SqlExecutor } from '@hospital/platform';
import { linkRows, type ChainedFields, type ChainedRow } from './hash-chain';

/** The queue the audit service consumes every service's records from (and its inbox's consumer name). */
export const AUDIT_RECORDS_QUEUE = 'audit.records';

/** A stored audit row: the chained fields, their links, and when the audit service stored it. */
export interface AuditRow extends ChainedRow {
  storedAt: string;
}

/** A column a search may filter or sort on (never user text: the search parser maps names to these). */
export type AuditColumn =
  'recorded' | 'patient' | 'actor_id' | 'action' | 'outcome' | 'resource_type' | 'break_the_glass' | 'seq';

/** One condition of a search: values ORed, conditions ANDed. */
export type AuditCondition =
  | { column: Exclude<AuditColumn, 'recorded' | 'seq' | 'break_the_glass'>; anyOf: readonly string[] }
  /** Break-the-glass accesses only (the review queue). */
  | { column: 'break_the_glass'; present: true }
  | { column: 'recorded'; op: '>=' | '<'; at: string };

export interface AuditQuery {
  conditions: readonly AuditCondition[];
  sort: readonly { column: AuditColumn; descending: boolean }[];
  count: number;
  offset: number;
}

const CHAIN_LOCK = `SELECT pg_advisory_xact_lock(hashtext('audit_event_chain'))`;

const COLUMNS = `seq, id, recorded, service, actor_kind, actor_id, actor_name, actor_role, action, interaction,
  resource_type, resource_id, patient, gtid, outcome, status, reason, source_address, break_the_glass,
  stored_at, prev_hash, hash`;

interface Row {
  seq: string;
  id: string;
  recorded: Date;
  service: string;
  actor_kind: string | null;
  actor_id: string | null;
  actor_name: string | null;
  actor_role: string | null;
  action: string;
  interaction: string;
  resource_type: string | null;
  resource_id: string | null;
  patient: string | null;
  gtid: string | null;
  outcome: string;
  status: number;
  reason: string | null;
  source_address: string | null;
  break_the_glass: string | null;
  stored_at: Date;
  prev_hash: string;
  hash: string;
}

function toRow(row: Row): AuditRow {
  return {
    seq: Number(row.seq),
    id: row.id,
    recorded: row.recorded.toISOString(),
    service: row.service,
    actorKind: row.actor_kind,
    actorId: row.actor_id,
    actorName: row.actor_name,
    actorRole: row.actor_role,
    action: row.action,
    interaction: row.interaction,
    resourceType: row.resource_type,
    resourceId: row.resource_id,
    patient: row.patient,
    gtid: row.gtid,
    outcome: row.outcome,
    status: row.status,
    reason: row.reason,
    sourceAddress: row.source_address,
    breakTheGlass: row.break_the_glass,
    storedAt: row.stored_at.toISOString(),
    prevHash: row.prev_hash,
    hash: row.hash,
  };
}

/** The record's fields as the chain covers them (`recorded` normalised to UTC milliseconds). */
export function chainedFieldsOf(record: AuditRecord): Omit<ChainedFields, 'seq'> {
  return {
    id: record.id,
    recorded: new Date(record.recorded).toISOString(),
    service: record.service,
    actorKind: record.actor?.kind ?? null,
    actorId: record.actor?.id ?? null,
    actorName: record.actor?.name ?? null,
    actorRole: record.actor?.role ?? null,
    action: record.action,
    interaction: record.interaction,
    resourceType: record.resourceType ?? null,
    resourceId: record.resourceId ?? null,
    patient: record.patient ?? null,
    gtid: record.gtid ?? null,
    outcome: record.outcome,
    status: record.status,
    reason: record.reason ?? null,
    sourceAddress: record.sourceAddress ?? null,
    breakTheGlass: record.breakTheGlass ?? null,
  };
}

/**
 * The audit trail in `audit_event`. Raw SQL (not a TypeORM entity): the append takes the chain's advisory
 * lock and writes computed links, and the search builds its WHERE and ORDER BY from a fixed set of columns,
 * which TypeORM's repository API does not say more simply; every value is a bind parameter.
 */
@Injectable()
export class AuditEventRepository {
  constructor(@Inject(Database) private readonly db: Database) {}

  /**
   * Appends records to the chain in the caller's transaction (the inbox's). The advisory lock serialises
   * appends across consumers and replicas until the transaction ends, so seq has no gaps and each row
   * links to the one before.
   */
  async append(exec: SqlExecutor, records: readonly AuditRecord[]): Promise<ChainedRow[]> {
    if (records.length === 0) return [];
    await exec.query(CHAIN_LOCK);
    const [last] = await exec.query<{ seq: string; hash: string }>(
      `SELECT seq, hash FROM audit_event ORDER BY seq DESC LIMIT 1`,
    );
    const rows = linkRows(
      last === undefined ? undefined : { seq: Number(last.seq), hash: last.hash },
      records.map(chainedFieldsOf),
    );
    await exec.query(
      `INSERT INTO audit_event (seq, id, recorded, service, actor_kind, actor_id, actor_name, actor_role, action,
              interaction, resource_type, resource_id, patient, gtid, outcome, status, reason, source_address,
              break_the_glass, prev_hash, hash)
       SELECT r."seq", r."id", r."recorded", r."service", r."actorKind", r."actorId", r."actorName", r."actorRole",
              r."action", r."interaction", r."resourceType", r."resourceId", r."patient", r."gtid", r."outcome",
              r."status", r."reason", r."sourceAddress", r."breakTheGlass", r."prevHash", r."hash"
         FROM jsonb_to_recordset($1::jsonb) AS r("seq" bigint, "id" uuid, "recorded" timestamptz, "service" text,
              "actorKind" text, "actorId" text, "actorName" text, "actorRole" text, "action" text,
              "interaction" text, "resourceType" text, "resourceId" text, "patient" text, "gtid" text,
              "outcome" text, "status" integer, "reason" text, "sourceAddress" text, "breakTheGlass" text,
              "prevHash" text, "hash" text)`,
      [JSON.stringify(rows)],
    );
    return rows;
  }

  async byId(id: string): Promise<AuditRow | undefined> {
    const [row] = await this.db.query<Row>(`SELECT ${COLUMNS} FROM audit_event WHERE id::text = $1`, [id]);
    return row === undefined ? undefined : toRow(row);
  }

  /** One page of a search and the number of rows that match it. */
  async search(query: AuditQuery): Promise<{ rows: AuditRow[]; total: number }> {
    const params: unknown[] = [];
    const bind = (value: unknown): string => {
      params.push(value);
      return `$${params.length}`;
    };
    const where = query.conditions.map((c) =>
      c.column === 'recorded'
        ? `recorded ${c.op} ${bind(c.at)}::timestamptz`
        : c.column === 'break_the_glass'
          ? 'break_the_glass IS NOT NULL'
          : `${c.column} = ANY(${bind(c.anyOf)}::text[])`,
    );
    const whereSql = where.length === 0 ? '' : `WHERE ${where.join(' AND ')}`;
    const order = [...query.sort, { column: 'seq' as const, descending: query.sort[0]?.descending ?? false }]
      .map((s) => `${s.column} ${s.descending ? 'DESC' : 'ASC'}${s.column === 'seq' ? '' : ' NULLS LAST'}`)
      .join(', ');
    const [counted] = await this.db.query<{ total: number }>(
      `SELECT count(*)::int AS total FROM audit_event ${whereSql}`,
      params,
    );
    const rows = await this.db.query<Row>(
      `SELECT ${COLUMNS} FROM audit_event ${whereSql} ORDER BY ${order}
        LIMIT ${bind(query.count)} OFFSET ${bind(query.offset)}`,
      params,
    );
    return { rows: rows.map(toRow), total: counted?.total ?? 0 };
  }

  /**
   * The earliest record the inbox received and applied that has no row (and how many there are), or
   * undefined when every received record is in the table.
   */
  async receivedWithoutRow(): Promise<{ id: string; count: number } | undefined> {
    const [row] = await this.db.query<{ id: string; count: number }>(
      `SELECT i.message_id AS id, (count(*) OVER ())::int AS count
         FROM tx_inbox i
        WHERE i.consumer = $1 AND i.outcome = 'applied'
          AND NOT EXISTS (SELECT 1 FROM audit_event e WHERE e.id::text = i.message_id)
        ORDER BY i.received_at, i.message_id
        LIMIT 1`,
      [AUDIT_RECORDS_QUEUE],
    );
    return row;
  }

  /** Rows after `afterSeq` in chain order, a page at a time (verification and export). */
  async page(afterSeq: number, limit: number, range?: { from: string; to: string }): Promise<AuditRow[]> {
    const rows =
      range === undefined
        ? await this.db.query<Row>(
            `SELECT ${COLUMNS} FROM audit_event WHERE seq > $1 ORDER BY seq LIMIT $2`,
            [afterSeq, limit],
          )
        : await this.db.query<Row>(
            `SELECT ${COLUMNS} FROM audit_event
              WHERE seq > $1 AND recorded >= $3::timestamptz AND recorded < $4::timestamptz
              ORDER BY seq LIMIT $2`,
            [afterSeq, limit, range.from, range.to],
          );
    return rows.map(toRow);
  }
}
