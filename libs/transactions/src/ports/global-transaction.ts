import { TransactionStyle } from '../core/observer';

/** What a participant branch has done, as the coordinator last learned it. */
export type BranchState = 'pending' | 'prepared' | 'refused' | 'committed' | 'aborted';

/**
 * One branch of a listed transaction: a participant, or a step where the log knows only steps (a saga's),
 * in its style's own state words (`done`, `compensated`, `confirming`, `released`, `dead-lettered`…).
 */
export interface TransactionBranch {
  participant: string;
  /** Which of the participant's steps or channels, where one transaction has several at one participant. */
  step?: string;
  state: string;
  /** Why a branch refused or failed, without patient data. */
  reason?: string;
}

/** A 2PC or 3PC branch, as the coordinator last learned it. */
export interface BranchRecord extends TransactionBranch {
  state: BranchState;
}

/**
 * One global transaction as the coordinator's durable log holds it: the row behind `/api/transactions`.
 * Each style defines its own `state` values; `timeline` holds the instants the protocol passed through,
 * oldest first. `B` is the branch shape: `BranchRecord` for the 2PC and 3PC logs, which recover from it.
 */
export interface GlobalTransactionRecord<B extends TransactionBranch = BranchRecord> {
  gtid: string;
  /** What the client that started it sent as `x-gtid` or `x-correlation-id`: its own reference, not an identity. */
  correlationId?: string;
  style: TransactionStyle;
  state: string;
  branches: B[];
  timeline: { at: string; event: string }[];
  /**
   * The trace (OpenTelemetry, 32 hex digits) of the request that started it, where one was active: find
   * every service's spans of the transaction under it. Kept in the log's first timeline entry.
   */
  traceId?: string;
  /** Calls (phase two, steps, compensations, deliveries) and recovery attempts that had to be repeated. */
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

/** A transaction as `/api/transactions` lists it, whatever its style. */
export type ListedTransaction = GlobalTransactionRecord<TransactionBranch>;

/**
 * Read side of a coordinator log, shared by every style for listing and inspection. `list` answers the
 * log's own transactions matching every filter given (none when `style` names another style, or when it
 * is asked for a `correlationId` and keeps none), newest `createdAt` first, at most `limit`.
 */
export interface TransactionBrowser {
  list(query: TransactionQuery): Promise<ListedTransaction[]>;
  get(gtid: string): Promise<ListedTransaction | undefined>;
}
