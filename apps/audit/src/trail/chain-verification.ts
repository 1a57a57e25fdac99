import type { AuditEventRepository } from './audit-event.repository';
import { ChainVerifier, type BrokenLink } from './hash-chain';

const PAGE = 1_000;

export interface VerificationReport {
  status: 'intact' | 'broken';
  /** Rows walked (up to and including the broken one). */
  checked: number;
  lastSeq: number;
  /** The first broken link: which row, and how. */
  broken?: BrokenLink;
}

/**
 * Walks the whole chain in seq order, a page at a time, and reports the first row not as it was appended;
 * when the chain is whole, checks that every record the service received still has its row (deleting the
 * newest rows leaves no gap for the walk to find).
 */
export async function verifyChain(repository: AuditEventRepository): Promise<VerificationReport> {
  const verifier = new ChainVerifier();
  let after = 0;
  for (;;) {
    const rows = await repository.page(after, PAGE);
    if (rows.length === 0 || verifier.push(rows) !== undefined) break;
    after = rows[rows.length - 1].seq;
  }
  const broken = verifier.result ?? (await missingRecord(repository, verifier.lastSeq));
  return {
    status: broken === undefined ? 'intact' : 'broken',
    checked: verifier.checked,
    lastSeq: verifier.lastSeq,
    ...(broken === undefined ? {} : { broken }),
  };
}

/**
 * A record the inbox says was received and stored whose row is gone: the chain's tail was cut. Records are
 * covered while their inbox rows are kept (INBOX_RETENTION_HOURS).
 */
async function missingRecord(
  repository: AuditEventRepository,
  lastSeq: number,
): Promise<BrokenLink | undefined> {
  const missing = await repository.receivedWithoutRow();
  if (missing === undefined) return undefined;
  return {
    kind: 'missing-record',
    seq: lastSeq + 1,
    id: missing.id,
    missingSeq: lastSeq + 1,
    missingRecords: missing.count,
  };
}
