import type { Database, Session } from '@hospital/platform';
import { TransactionAbortedError } from '@hospital/transactions';
import { ConsultsErrorCode, ConsultsException } from './consults.exception';
import type { ConsultBranch, ConsultCommit, ConsultParticipant } from './consult-commit.port';

// TEMPORARY, to be deleted when the three-phase commit is wired in: stand-ins for CONSULT_COMMIT.

/** One participant's database and branch step, for `LocalConsultCommitForSpecs`. */
export interface LocalConsultParticipant {
  db: Database;
  work: (tx: Session, payload: unknown, gtid: string) => Promise<void>;
}

/**
 * Specs only, NOT atomic: applies each branch in its participant's database, one local transaction after
 * another. The first failing branch aborts the rest (`TransactionAbortedError`), but branches applied
 * before it stay applied — exactly what the real protocol exists to prevent.
 */
export class LocalConsultCommitForSpecs implements ConsultCommit {
  readonly committed: string[] = [];

  constructor(private readonly participants: Readonly<Record<ConsultParticipant, LocalConsultParticipant>>) {}

  async commit(gtid: string, branches: ConsultBranch[]): Promise<void> {
    for (const branch of branches) {
      const { db, work } = this.participants[branch.participant];
      try {
        await db.transaction((tx) => work(tx, branch.payload, gtid));
      } catch (error) {
        const reason = error instanceof Error ? error.message : String(error);
        throw new TransactionAbortedError(gtid, [`${branch.participant}: ${reason}`], error);
      }
    }
    this.committed.push(gtid);
  }
}

/**
 * What CONSULT_COMMIT is until a transaction protocol is wired: every completion is refused with a 503
 * after its validation, and nothing is written anywhere.
 */
export class UnwiredConsultCommit implements ConsultCommit {
  commit(gtid: string): Promise<void> {
    return Promise.reject(
      new ConsultsException(
        ConsultsErrorCode.CommitUnavailable,
        `Consult completion ${gtid} was not started: no transaction protocol commits completions in this service yet`,
      ),
    );
  }
}
