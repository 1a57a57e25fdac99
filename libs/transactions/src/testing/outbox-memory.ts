import { Clock, systemClock } from '../core/clock';
import { newGtid } from '../core/gtid';
import {
  InboxEntry,
  InboxOutcome,
  InboxStore,
  NewOutboxEvent,
  OutboxClaim,
  OutboxMessage,
  OutboxStore,
} from '../ports/messaging.ports';
import { MemoryLocks, MemorySession, MemoryTransactionRunner, SessionEndedError } from './memory-session';

/** A committed outbox row. */
export interface MemoryOutboxRow {
  message: OutboxMessage;
  partition: number;
  published: boolean;
  /** Routed to no queue: held back (not claimable, and neither is anything later of its aggregate). */
  held: boolean;
  /** Times it was routed to no queue. */
  attempts: number;
}

export interface InMemoryOutboxOptions {
  /** This service's name: the `source` of every message. */
  source: string;
  /** Ordering partitions (`OUTBOX_PARTITIONS` in PostgreSQL); aggregates hash onto them. */
  partitions?: number;
  /**
   * `all-free` (as `PostgresOutbox`): a claim locks every partition no other claim holds. `needed`: only the
   * partitions of the messages it returns, so several relays publish at once.
   */
  claimLocks?: 'all-free' | 'needed';
  clock?: Clock;
}

function hash(text: string): number {
  let h = 0;
  for (let i = 0; i < text.length; i += 1) h = (Math.imul(h, 31) + text.charCodeAt(i)) | 0;
  return h & 0x7fffffff;
}

interface HeldClaim {
  readonly connection: OutboxConnection;
  readonly partitions: ReadonlySet<number>;
  readonly ids: readonly string[];
  open: boolean;
}

/**
 * `PostgresOutbox` in memory. `append` runs in a producer transaction (`transaction`), takes the aggregate's
 * row lock and numbers the aggregate's events in commit order; positions come from a sequence (gaps after
 * rollbacks). A claim holds ordering partitions until `complete` or `release`, or until its connection dies
 * (`OutboxConnection.kill`, a relay crash) or the database crashes; marks are commits with
 * `synchronous_commit = off`, so a database crash may lose the latest ones (a suffix in commit order) unless a
 * later synchronous commit flushed them. A message the relay reports routed to no queue is held back (with
 * every later message of its aggregate) until `releaseHeld`, the back-off running out.
 */
export class InMemoryOutboxStore implements OutboxStore<MemorySession> {
  readonly source: string;
  /** Committed rows, by message id. */
  readonly rows = new Map<string, MemoryOutboxRow>();
  private readonly lastSequence = new Map<string, number>();
  private readonly staged = new WeakMap<MemorySession, Map<string, number>>();
  private position = 0;
  private readonly locks = new MemoryLocks();
  private readonly runner = new MemoryTransactionRunner();
  private readonly claims = new Set<HeldClaim>();
  /** Marks (message ids changed) committed since the last flushed commit, oldest first. */
  private unflushedMarks: string[][] = [];
  private readonly partitionCount: number;
  private readonly claimLocks: 'all-free' | 'needed';
  private readonly clock: Clock;

  constructor(options: InMemoryOutboxOptions) {
    this.source = options.source;
    this.partitionCount = options.partitions ?? 8;
    this.claimLocks = options.claimLocks ?? 'all-free';
    this.clock = options.clock ?? systemClock;
  }

  /** A producer's local transaction on this database; its commit is synchronous (flushes earlier marks). */
  transaction<T>(work: (session: MemorySession) => Promise<T>): Promise<T> {
    return this.runner.transaction((session) => {
      session.onCommit(() => {
        this.unflushedMarks = [];
      });
      return work(session);
    });
  }

  async append(session: MemorySession, events: readonly NewOutboxEvent[]): Promise<OutboxMessage[]> {
    session.assertOpen();
    const ordered = [...events].sort((a, b) =>
      a.aggregateId < b.aggregateId ? -1 : a.aggregateId > b.aggregateId ? 1 : 0,
    );
    let sequences = this.staged.get(session);
    if (!sequences) {
      sequences = new Map();
      this.staged.set(session, sequences);
    }
    const stored: OutboxMessage[] = [];
    for (const event of ordered) {
      await this.locks.acquire(session, `aggregate:${event.aggregateId}`);
      session.assertOpen();
      const id = event.id ?? `${this.source}-${this.position + 1}`;
      if (this.rows.has(id) || stored.some((m) => m.id === id))
        throw new Error(`duplicate key value violates unique constraint "tx_outbox_pkey" (${id})`);
      const sequence =
        (sequences.get(event.aggregateId) ?? this.lastSequence.get(event.aggregateId) ?? 0) + 1;
      sequences.set(event.aggregateId, sequence);
      this.position += 1;
      const message: OutboxMessage = {
        id,
        position: this.position,
        exchange: event.exchange,
        routingKey: event.routingKey,
        type: event.type,
        aggregateId: event.aggregateId,
        sequence,
        source: this.source,
        gtid: event.gtid ?? newGtid(),
        payload: event.payload,
        createdAt: new Date(this.clock.now()),
      };
      const partition = hash(event.aggregateId) % this.partitionCount;
      session.onCommit(() => {
        this.rows.set(id, { message, partition, published: false, held: false, attempts: 0 });
        this.lastSequence.set(
          event.aggregateId,
          Math.max(this.lastSequence.get(event.aggregateId) ?? 0, sequence),
        );
      });
      stored.push({ ...message });
    }
    return stored;
  }

  /** A relay's own database connection: its claim dies with it. */
  connect(): OutboxConnection {
    return new OutboxConnection(this);
  }

  claim(limit: number): Promise<OutboxClaim | undefined> {
    return this.claimFor(undefined, limit);
  }

  /** @internal Claims for `connection` (undefined: a connection that never dies). */
  claimFor(connection: OutboxConnection | undefined, limit: number): Promise<OutboxClaim | undefined> {
    if (connection?.killed) return Promise.reject(new Error('connection terminated'));
    const held = new Set<number>();
    for (const claim of this.claims) for (const p of claim.partitions) held.add(p);
    const free = new Set<number>();
    for (let p = 0; p < this.partitionCount; p += 1) if (!held.has(p)) free.add(p);
    const heldSince = new Map<string, number>();
    for (const row of this.rows.values())
      if (row.held && !row.published)
        heldSince.set(
          row.message.aggregateId,
          Math.min(heldSince.get(row.message.aggregateId) ?? Infinity, row.message.position),
        );
    const pending = [...this.rows.values()]
      .filter(
        (row) =>
          !row.published &&
          !row.held &&
          free.has(row.partition) &&
          !(row.message.position > (heldSince.get(row.message.aggregateId) ?? Infinity)),
      )
      .sort((a, b) => a.message.position - b.message.position)
      .slice(0, limit);
    if (pending.length === 0) return Promise.resolve(undefined);
    const claim: HeldClaim = {
      connection: connection ?? new OutboxConnection(this),
      partitions: this.claimLocks === 'all-free' ? free : new Set(pending.map((row) => row.partition)),
      ids: pending.map((row) => row.message.id),
      open: true,
    };
    this.claims.add(claim);
    const end = (): void => {
      claim.open = false;
      this.claims.delete(claim);
    };
    return Promise.resolve({
      messages: pending.map((row) => ({ ...row.message })),
      complete: (publishedIds, unroutable = []) => {
        if (!claim.open)
          return Promise.reject(new SessionEndedError('connection terminated; claim rolled back'));
        const changed: string[] = [];
        for (const id of publishedIds) {
          const row = this.rows.get(id);
          if (row && !row.published) {
            row.published = true;
            changed.push(id);
          }
        }
        for (const { id } of unroutable) {
          const row = this.rows.get(id);
          if (row && !row.published) {
            row.held = true;
            row.attempts += 1;
          }
        }
        this.unflushedMarks.push(changed);
        end();
        return Promise.resolve();
      },
      release: () => {
        end();
        return Promise.resolve();
      },
    });
  }

  /** @internal The connection died: its claims roll back. */
  dropClaimsOf(connection: OutboxConnection): void {
    for (const claim of [...this.claims]) {
      if (claim.connection === connection) {
        claim.open = false;
        this.claims.delete(claim);
      }
    }
  }

  /**
   * The database crashes and restarts: open producer transactions and every claim roll back, and of the
   * marks not yet flushed only the first `keep(count)` survive.
   */
  crash(keep: (unflushed: number) => number): void {
    this.runner.abortAll();
    for (const claim of this.claims) claim.open = false;
    this.claims.clear();
    const kept = Math.max(0, Math.min(this.unflushedMarks.length, keep(this.unflushedMarks.length)));
    for (const lost of this.unflushedMarks.slice(kept)) {
      for (const id of lost) {
        const row = this.rows.get(id);
        if (row) row.published = false;
      }
    }
    this.unflushedMarks = [];
  }

  waitForMessages(_timeoutMs: number): Promise<void> {
    return Promise.resolve();
  }

  backlog(): Promise<{ pending: number; oldestAgeMs: number }> {
    const pending = [...this.rows.values()].filter((row) => !row.published);
    const oldest = Math.min(...pending.map((row) => row.message.createdAt.getTime()));
    return Promise.resolve({
      pending: pending.length,
      oldestAgeMs: pending.length === 0 ? 0 : this.clock.now() - oldest,
    });
  }

  /** The back-off of held messages ran out: they are claimable again; returns how many. */
  releaseHeld(): number {
    let released = 0;
    for (const row of this.rows.values())
      if (row.held) {
        row.held = false;
        released += 1;
      }
    return released;
  }

  /** Ids of messages held back because they were routed to no queue. */
  heldIds(): string[] {
    return [...this.rows.values()].filter((row) => row.held && !row.published).map((row) => row.message.id);
  }

  /** Ids of committed messages not marked published. */
  pendingIds(): string[] {
    return [...this.rows.values()].filter((row) => !row.published).map((row) => row.message.id);
  }

  /** Claims currently held. */
  get heldClaims(): number {
    return this.claims.size;
  }
}

/** One relay's connection to the outbox database; `kill` is the relay process dying (its claim rolls back). */
export class OutboxConnection implements OutboxStore<MemorySession> {
  killed = false;

  constructor(private readonly store: InMemoryOutboxStore) {}

  append(session: MemorySession, events: readonly NewOutboxEvent[]): Promise<OutboxMessage[]> {
    return this.store.append(session, events);
  }

  claim(limit: number): Promise<OutboxClaim | undefined> {
    return this.store.claimFor(this, limit);
  }

  waitForMessages(timeoutMs: number): Promise<void> {
    return this.store.waitForMessages(timeoutMs);
  }

  backlog(): Promise<{ pending: number; oldestAgeMs: number }> {
    return this.store.backlog();
  }

  kill(): void {
    this.killed = true;
    this.store.dropClaimsOf(this);
  }
}

/** A committed inbox row. */
export interface MemoryInboxRow {
  outcome: InboxOutcome;
  reason?: string;
}

/** An inbox write, in commit order (for checks). */
export interface InboxLogEntry {
  consumer: string;
  messageId: string;
  outcome: InboxOutcome;
  /** An update of a dead-lettered row after a replay. */
  replacing: boolean;
}

const rowKey = (consumer: string, id: string): string => `${consumer}\u0000${id}`;

/**
 * `PostgresInbox` in memory, transactional with the session. `seen` reads committed rows (and the session's
 * own); `lockCursors` locks the cursor rows that exist (like `FOR UPDATE`, a key without a committed row is
 * not locked) and reads their latest committed values; `record` inserts inbox rows under a unique key (an
 * insert waits for another transaction inserting the same id, and fails if that one commits), updates
 * dead-lettered rows on replay, and upserts cursors with GREATEST.
 */
export class InMemoryInbox implements InboxStore<MemorySession> {
  readonly rows = new Map<string, MemoryInboxRow>();
  readonly cursors = new Map<string, number>();
  /** Every committed inbox write, in commit order. */
  readonly log: InboxLogEntry[] = [];
  private readonly locks = new MemoryLocks();
  private readonly staged = new WeakMap<MemorySession, Map<string, MemoryInboxRow>>();

  private own(session: MemorySession): Map<string, MemoryInboxRow> {
    let rows = this.staged.get(session);
    if (!rows) {
      rows = new Map();
      this.staged.set(session, rows);
    }
    return rows;
  }

  /** The committed outcome for a message, if any. */
  outcome(consumer: string, id: string): InboxOutcome | undefined {
    return this.rows.get(rowKey(consumer, id))?.outcome;
  }

  seen(session: MemorySession, consumer: string, ids: readonly string[]): Promise<Map<string, InboxOutcome>> {
    session.assertOpen();
    const own = this.own(session);
    const result = new Map<string, InboxOutcome>();
    for (const id of ids) {
      const row = own.get(rowKey(consumer, id)) ?? this.rows.get(rowKey(consumer, id));
      if (row) result.set(id, row.outcome);
    }
    return Promise.resolve(result);
  }

  async lockCursors(
    session: MemorySession,
    consumer: string,
    keys: readonly string[],
  ): Promise<Map<string, number>> {
    session.assertOpen();
    // The rows that exist when the statement starts are locked (in key order), then read at their latest.
    const existing = [...new Set(keys)].sort().filter((key) => this.cursors.has(rowKey(consumer, key)));
    for (const key of existing) await this.locks.acquire(session, `cursor:${rowKey(consumer, key)}`);
    session.assertOpen();
    const result = new Map<string, number>();
    for (const key of existing) result.set(key, this.cursors.get(rowKey(consumer, key)) ?? 0);
    return result;
  }

  async record(
    session: MemorySession,
    consumer: string,
    entries: readonly InboxEntry[],
    cursors: ReadonlyMap<string, number>,
  ): Promise<void> {
    session.assertOpen();
    const own = this.own(session);
    for (const entry of entries.filter((e) => !e.replacing)) {
      const key = rowKey(consumer, entry.messageId);
      await this.locks.acquire(session, `inbox:${key}`);
      if (this.rows.has(key) || own.has(key))
        throw new Error(
          `duplicate key value violates unique constraint "tx_inbox_pkey" (${entry.messageId})`,
        );
      const row: MemoryInboxRow = { outcome: entry.outcome, reason: entry.reason };
      own.set(key, row);
      session.onCommit(() => {
        this.rows.set(key, row);
        this.log.push({ consumer, messageId: entry.messageId, outcome: entry.outcome, replacing: false });
      });
    }
    for (const entry of entries.filter((e) => e.replacing)) {
      const key = rowKey(consumer, entry.messageId);
      await this.locks.acquire(session, `inbox:${key}`);
      const current = own.get(key) ?? this.rows.get(key);
      if (current?.outcome !== 'dead-lettered') continue;
      const row: MemoryInboxRow = { outcome: entry.outcome, reason: entry.reason };
      own.set(key, row);
      session.onCommit(() => {
        this.rows.set(key, row);
        this.log.push({ consumer, messageId: entry.messageId, outcome: entry.outcome, replacing: true });
      });
    }
    for (const key of [...cursors.keys()].sort()) {
      const k = rowKey(consumer, key);
      await this.locks.acquire(session, `cursor:${k}`);
      const value = cursors.get(key) ?? 0;
      session.onCommit(() => {
        this.cursors.set(k, Math.max(this.cursors.get(k) ?? 0, value));
      });
    }
    session.assertOpen();
  }
}

/** One effect of a consumer's handler: a row in its own tables. */
export interface MemoryEffect {
  messageId: string;
  source?: string;
  aggregateId?: string;
  sequence?: number;
  /** The delivery count the message had when applied. */
  deliveryCount: number;
}

/** The consumer's business table: effects written in a session appear only when it commits. */
export class MemoryEffectLog {
  /** Committed effects, in commit order. */
  readonly committed: MemoryEffect[] = [];

  write(session: MemorySession, effect: MemoryEffect): void {
    session.onCommit(() => this.committed.push(effect));
  }
}
