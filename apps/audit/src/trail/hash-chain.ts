import { createHash } from 'node:crypto';

/** The hash before the first row. */
export const GENESIS_HASH = '0'.repeat(64);

/** The fields of a row that the chain covers: every field of the record, and its position. */
export interface ChainedFields {
  seq: number;
  id: string;
  /** ISO 8601 in UTC with milliseconds (`Date.toISOString()`), as read back from PostgreSQL. */
  recorded: string;
  service: string;
  actorKind: string | null;
  actorId: string | null;
  actorName: string | null;
  actorRole: string | null;
  action: string;
  interaction: string;
  resourceType: string | null;
  resourceId: string | null;
  patient: string | null;
  gtid: string | null;
  outcome: string;
  status: number;
  reason: string | null;
  sourceAddress: string | null;
  breakTheGlass: string | null;
}

export interface ChainedRow extends ChainedFields {
  prevHash: string;
  hash: string;
}

/** Canonical JSON of the fields: keys sorted, absent values as null, no whitespace. */
export function canonicalJson(fields: ChainedFields): string {
  const keys = Object.keys(fields).sort() as (keyof ChainedFields)[];
  return `{${keys.map((k) => `${JSON.stringify(k)}:${JSON.stringify(fields[k] ?? null)}`).join(',')}}`;
}

/** hash = sha256(prev_hash || canonical JSON of the row), hex. */
export function chainHash(prevHash: string, fields: ChainedFields): string {
  return createHash('sha256')
    .update(prevHash)
    .update(canonicalJson(fieldsOf(fields)))
    .digest('hex');
}

/** Links new rows onto the chain whose last row is `last` (or onto the genesis). */
export function linkRows(
  last: { seq: number; hash: string } | undefined,
  rows: readonly Omit<ChainedFields, 'seq'>[],
): ChainedRow[] {
  let seq = last?.seq ?? 0;
  let prevHash = last?.hash ?? GENESIS_HASH;
  return rows.map((row) => {
    seq += 1;
    const fields: ChainedFields = { ...row, seq };
    const hash = chainHash(prevHash, fields);
    const linked: ChainedRow = { ...fields, prevHash, hash };
    prevHash = hash;
    return linked;
  });
}

/** Why the chain breaks at a row. */
export type BrokenLinkKind =
  /** The row's fields no longer give its hash: the row was edited. */
  | 'edited'
  /** Rows are missing before this one (a gap in seq, or the chain starts late): deleted. */
  | 'missing-before'
  /** The row's prev_hash is not the previous row's hash: rows removed or re-linked. */
  | 'prev-hash-mismatch'
  /**
   * The chain is whole, but a record the service received (its inbox holds the id) has no row: the newest
   * rows were deleted, which leaves no gap behind. `seq` is the first missing position, `id` the record.
   */
  | 'missing-record';

export interface BrokenLink {
  kind: BrokenLinkKind;
  /** The row where the chain breaks (for `missing-before`, the first row after the gap). */
  seq: number;
  id: string;
  /** For `missing-before` and `missing-record`: the first seq that is missing. */
  missingSeq?: number;
  /** For `missing-record`: how many received records have no row. */
  missingRecords?: number;
}

/**
 * Walks a chain page by page (rows in seq order) and finds the first broken link. Keeps only the last row
 * seen, so a chain of any length is checked in constant memory.
 */
export class ChainVerifier {
  private last: { seq: number; hash: string } | undefined;
  private broken: BrokenLink | undefined;
  checked = 0;

  /** Checks the next rows; answers the first broken link once found (and ignores later rows). */
  push(rows: readonly ChainedRow[]): BrokenLink | undefined {
    for (const row of rows) {
      if (this.broken !== undefined) return this.broken;
      this.checked += 1;
      const expectedSeq = (this.last?.seq ?? 0) + 1;
      const expectedPrev = this.last?.hash ?? GENESIS_HASH;
      if (row.seq !== expectedSeq) {
        this.broken = { kind: 'missing-before', seq: row.seq, id: row.id, missingSeq: expectedSeq };
      } else if (row.prevHash !== expectedPrev) {
        this.broken = { kind: 'prev-hash-mismatch', seq: row.seq, id: row.id };
      } else if (chainHash(row.prevHash, fieldsOf(row)) !== row.hash) {
        this.broken = { kind: 'edited', seq: row.seq, id: row.id };
      }
      this.last = { seq: row.seq, hash: row.hash };
    }
    return this.broken;
  }

  get result(): BrokenLink | undefined {
    return this.broken;
  }

  get lastSeq(): number {
    return this.last?.seq ?? 0;
  }
}

/** The chained fields of a row, and nothing else it carries (its links, when it was stored). */
function fieldsOf(row: ChainedFields): ChainedFields {
  return {
    seq: row.seq,
    id: row.id,
    recorded: row.recorded,
    service: row.service,
    actorKind: row.actorKind,
    actorId: row.actorId,
    actorName: row.actorName,
    actorRole: row.actorRole,
    action: row.action,
    interaction: row.interaction,
    resourceType: row.resourceType,
    resourceId: row.resourceId,
    patient: row.patient,
    gtid: row.gtid,
    outcome: row.outcome,
    status: row.status,
    reason: row.reason,
    sourceAddress: row.sourceAddress,
    breakTheGlass: row.breakTheGlass,
  };
}
