// The schedules of the outbox / inbox property spec (outbox/outbox.property.spec.ts): the producers' planned
// transactions and the steps a random schedule is made of, faults included.
import { ProtocolPoint } from '../core/protocol-points';

export const SOURCES = ['pharmacy', 'supply-chain'];
export const AGGREGATES = ['drug-1', 'drug-2', 'drug-3', 'po-7'];
/** Routing keys events are published to; the consumer's queue is bound to both unless a step unbinds one. */
export const ROUTES = ['stock', 'reorder'];
export const CONSUMER = 'inventory';

export interface EventPlan {
  aggregate: number;
  route: number;
  poison: boolean;
  /** Handler calls that fail transiently before it succeeds. */
  transient: number;
}

export interface TxPlan {
  source: number;
  events: EventPlan[];
  rollback: boolean;
}

export type RelayKillPoint = Extract<ProtocolPoint, 'outbox.relay.mid-batch' | 'outbox.relay.after-publish'>;

export type Step =
  /** The next planned producer transaction opens and appends (it may wait for an aggregate lock). */
  | { t: 'begin' }
  /** An open producer transaction that has appended commits or rolls back (as planned). */
  | { t: 'finish'; pick: number }
  /** A relay starts a round; `killAt` kills it at that point of the round. */
  | { t: 'relay'; relay: number; killAt?: RelayKillPoint }
  /** The broker confirms a relay's oldest in-flight publish. */
  | { t: 'confirm'; relay: number }
  /** A relay process dies wherever it is (its claim rolls back; part of an in-flight publish may be queued). */
  | { t: 'killRelay'; relay: number }
  /** The active consumer gets a batch; `hold` keeps its first transaction open before commit. */
  | { t: 'deliver'; max: number; hold: boolean; crashAfterCommit: boolean }
  /** A held consumer transaction goes on to commit. */
  | { t: 'resume' }
  /** A delayed retry fires: the delivery is nacked and requeued. */
  | { t: 'nack'; pick: number }
  | { t: 'killConsumer'; replica: number }
  /** A replica's channel closes; its batch in progress goes on (and may commit); it reattaches. */
  | { t: 'loseChannel'; replica: number }
  | { t: 'restartConsumer'; replica: number }
  | { t: 'outage' }
  | { t: 'restore' }
  | { t: 'duplicate' }
  /** A producer database crashes: open transactions and claims roll back, unflushed marks may be lost. */
  | { t: 'dbCrash'; source: number }
  /** The queue's binding for a routing key goes away (messages to it are returned), or comes back. */
  | { t: 'unbind'; route: number }
  | { t: 'bind'; route: number }
  /** The back-off of messages held as unroutable runs out: they are claimable again. */
  | { t: 'backoff' };

export type StepKind = Step['t'];

export interface Scenario {
  sources: number;
  relaysPerSource: number;
  replicas: number;
  claimLocks: 'all-free' | 'needed';
  batchSize: number;
  prefetch: number;
  interleave: boolean;
  transactions: TxPlan[];
  steps: Step[];
  seed: number;
}
