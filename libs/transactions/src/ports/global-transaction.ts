import { TransactionStyle } from '../core/observer';

/** What a participant branch has done, as the coordinator last learned it. */
export type BranchState = 'pending' | 'prepared' | 'refused' | 'committed' | 'aborted';

export interface BranchRecord {
  participant: string;
  state: BranchState;
  /** Why a branch refused or failed, without patient data. */
  reason?: string;
}

/**
 * One global transaction as the coordinator's durable log holds it: the row behind `/api/transactions`.
 * Each style defines its own `state` values; `timeline` holds the instants the protocol passed through.
 */
export interface GlobalTransactionRecord {
  gtid: string;
  /** What the client that started it sent as `x-gtid` or `x-correlation-id`: its own reference, not an identity. */
  correlationId?: string;
  style: TransactionStyle;
  state: string;
  branches: BranchRecord[];
  timeline: { at: string; event: string }[];
  /** Phase-two or recovery attempts that had to be repeated. */
  retries: number;
  lastError?: string;
  createdAt: string;
  updatedAt: string;
}

export interface TransactionQuery {
  style?: TransactionStyle;
  state?: string;
  limit: number;
  /** Only records created before this instant (ISO), for paging back in time. */
  before?: string;
  /** Only the transactions a client started under this correlation id. */
  correlationId?: string;
}

/** Read side of a coordinator log, shared by every style for listing and inspection. */
export interface TransactionBrowser {
  list(query: TransactionQuery): Promise<GlobalTransactionRecord[]>;
  get(gtid: string): Promise<GlobalTransactionRecord | undefined>;
}
