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

/** Walks the whole chain in seq order, a page at a time, and reports the first row not as it was appended. */
export async function verifyChain(repository: AuditEventRepository): Promise<VerificationReport> {
  const verifier = new ChainVerifier();
  let after = 0;
  for (;;) {
    const rows = await repository.page(after, PAGE);
    if (rows.length === 0 || verifier.push(rows) !== undefined) break;
    after = rows[rows.length - 1].seq;
  }
  const broken = verifier.result;
  return {
    status: broken === undefined ? 'intact' : 'broken',
    checked: verifier.checked,
    lastSeq: verifier.lastSeq,
    ...(broken === undefined ? {} : { broken }),
  };
}
