import { plainToInstance } from 'class-transformer';
import { validateSync, ValidationError } from 'class-validator';
import { errorMessage, ProtocolLogger, silentLogger } from '../core/observer';
import { noProtocolPoints, ProtocolPoints } from '../core/protocol-points';
import { Disposition, InboundMessage, InboxEntry, InboxOutcome, InboxStore } from '../ports/messaging.ports';

/** A permanent rejection: the message is dead-lettered with `reason` and changes nothing. */
export class RejectedMessageError extends Error {
  constructor(readonly reason: string) {
    super(reason);
  }
}

/**
 * A domain error that says how a consumer treats it: a code and a disposition (the platform's
 * `DomainException` has both). Structural, so the library knows no error classes of its users.
 */
export interface CodedError {
  readonly code: string;
  readonly message: string;
  readonly disposition: 'retry' | 'dead-letter';
}

export function isCodedError(error: unknown): error is CodedError {
  if (!(error instanceof Error)) return false;
  const { code, disposition } = error as Partial<CodedError>;
  return typeof code === 'string' && (disposition === 'retry' || disposition === 'dead-letter');
}

/**
 * How a handler's failure is settled: a RejectedMessageError, or a coded error whose code is
 * dead-lettered, is permanent, with its reason (the code first); anything else is transient.
 */
export function failureOf(error: unknown): { permanent: boolean; reason: string } {
  if (error instanceof RejectedMessageError) return { permanent: true, reason: error.reason };
  if (isCodedError(error)) {
    return { permanent: error.disposition === 'dead-letter', reason: `${error.code}: ${error.message}` };
  }
  return { permanent: false, reason: errorMessage(error) };
}

/** Applies one message inside the consumer's local transaction, together with its inbox row. */
export interface MessageHandler<S> {
  /**
   * Validates and applies `message`. Throw `RejectedMessageError`, or a coded domain error whose code is
   * dead-lettered, for a permanent rejection (before issuing a statement that would fail); any other
   * error is transient and the message is retried.
   */
  handle(session: S, message: InboundMessage): Promise<void>;
  /**
   * Optional: applies several new messages at once, in order (one statement for a batch, say). Same
   * contract as `handle`; a rejection fails the batch, and each message is then applied alone by `handle`.
   */
  handleBatch?(session: S, messages: readonly InboundMessage[]): Promise<void>;
}

/** Runs work in a local transaction: committed when it returns, rolled back when it throws. */
export interface TransactionRunner<S> {
  transaction<T>(work: (session: S) => Promise<T>): Promise<T>;
}

export interface InboxConsumerOptions {
  /** The inbox's consumer name (the queue name). */
  name: string;
  /** Deliveries of a message that failed before it is dead-lettered. */
  maxAttempts: number;
  /**
   * Deliveries of a message whose predecessor (same producer, same aggregate) is still missing before it is
   * dead-lettered, naming the missing sequence (default `3 × maxAttempts`, under the broker's delivery limit
   * of `4 × maxAttempts`). It is never applied before its predecessor is applied or dead-lettered.
   */
  gapPatience?: number;
  points?: ProtocolPoints;
}

function describe(errors: ValidationError[], path = ''): string[] {
  return errors.flatMap((e) => {
    const at = path ? `${path}.${e.property}` : e.property;
    const own = Object.keys(e.constraints ?? {}).map((rule) => `${at}: ${rule}`);
    return [...own, ...describe(e.children ?? [], at)];
  });
}

/**
 * Validates a message's payload with class-validator rules; on failure throws a RejectedMessageError that
 * names the fields and rules broken (never the values, which may be patient data).
 */
export function parseMessagePayload<T extends object>(type: new () => T, message: InboundMessage): T {
  if (typeof message.payload !== 'object' || message.payload === null || Array.isArray(message.payload)) {
    throw new RejectedMessageError(`${message.type}: payload is not a JSON object`);
  }
  const instance = plainToInstance(type, message.payload);
  const errors = validateSync(instance, { whitelist: true, forbidNonWhitelisted: true });
  if (errors.length > 0) {
    throw new RejectedMessageError(`${message.type}: invalid payload (${describe(errors).join(', ')})`);
  }
  return instance;
}

/** The key a consumer orders messages by: the producer and its aggregate. */
export function orderingKey(message: InboundMessage): string | undefined {
  return message.aggregateId === undefined || message.sequence === undefined
    ? undefined
    : `${message.source ?? ''}|${message.aggregateId}`;
}

type Verdict = 'new' | 'duplicate' | 'dead-lettered-before' | 'gap' | 'gap-expired';

/**
 * The decision of the inbox, free of I/O: which messages of a batch are new, duplicates, or wait for an
 * earlier message of their aggregate. A message is applied only once every earlier message of its aggregate
 * was applied or dead-lettered (the cursor): until then it waits ('gap'), and after `gapPatience` deliveries
 * of its own it is dead-lettered instead ('gap-expired'), leaving the cursor where it is. A replayed dead
 * letter is applied even though the inbox saw it, and waits for its predecessors like any other message.
 */
export function classify(
  batch: readonly InboundMessage[],
  seen: ReadonlyMap<string, InboxOutcome>,
  cursors: Map<string, number>,
  gapPatience: number,
): Verdict[] {
  const inBatch = new Set<string>();
  return batch.map((message) => {
    const before = seen.get(message.id);
    if (inBatch.has(message.id) || before === 'applied') return 'duplicate';
    if (before === 'dead-lettered' && !message.replayed) return 'dead-lettered-before';
    const key = orderingKey(message);
    if (key !== undefined && message.sequence !== undefined) {
      // No cursor yet means nothing of the aggregate was decided: the next one is sequence 1.
      const last = cursors.get(key) ?? 0;
      if (message.sequence > last + 1) {
        // Handed back undecided: a later copy in this batch may still find its predecessor before it.
        if (message.deliveryCount + 1 < gapPatience) return 'gap';
        inBatch.add(message.id);
        return 'gap-expired';
      }
      cursors.set(key, Math.max(last, message.sequence));
    }
    inBatch.add(message.id);
    return 'new';
  });
}

/** Why a message that waited too long for its predecessor was dead-lettered. */
export function gapReason(message: InboundMessage, cursors: ReadonlyMap<string, number>): string {
  const key = orderingKey(message) ?? '';
  const missing = (cursors.get(key) ?? 0) + 1;
  return (
    `sequence ${missing} of aggregate ${message.aggregateId ?? ''} from ${message.source ?? 'unknown'} ` +
    `never arrived (waited ${message.deliveryCount + 1} deliveries for it); replay this message after it`
  );
}

/**
 * The consuming side of the outbox style. A batch is applied in one local transaction together with its
 * inbox rows, so a redelivered message changes nothing; if the batch fails, each message is retried alone
 * so one bad message cannot hold the others back. A message rejected for good, or failing `maxAttempts`
 * times, is recorded as dead-lettered and handed to the dead-letter queue with the reason.
 */
export class InboxConsumer<S> {
  private readonly points: ProtocolPoints;

  constructor(
    private readonly db: TransactionRunner<S>,
    private readonly inbox: InboxStore<S>,
    private readonly handler: MessageHandler<S>,
    private readonly options: InboxConsumerOptions,
    private readonly logger: ProtocolLogger = silentLogger,
  ) {
    this.points = options.points ?? noProtocolPoints;
  }

  get name(): string {
    return this.options.name;
  }

  private get gapPatience(): number {
    return this.options.gapPatience ?? 3 * this.options.maxAttempts;
  }

  /** Decides every message of `batch` (in order); returns one disposition per message. */
  async process(batch: readonly InboundMessage[]): Promise<Disposition[]> {
    if (batch.length === 0) return [];
    try {
      const dispositions = await this.db.transaction((session) => this.apply(session, batch));
      this.points('outbox.consumer.after-commit', batch[0].gtid);
      return dispositions;
    } catch (error) {
      if (batch.length === 1) return [await this.settleFailure(batch[0], error)];
      const dispositions: Disposition[] = [];
      for (const message of batch) dispositions.push(...(await this.process([message])));
      return dispositions;
    }
  }

  /**
   * `seen` is read before any lock is held, so two consumers overlapping on one message (a failover) may
   * both take it for new; the inbox's primary key then fails the second transaction, which rolls back its
   * effect with it. That key, not the read, is what makes the effect happen once.
   */
  private async apply(session: S, batch: readonly InboundMessage[]): Promise<Disposition[]> {
    const { name } = this.options;
    const seen = await this.inbox.seen(
      session,
      name,
      batch.map((m) => m.id),
    );
    const keys = [...new Set(batch.map(orderingKey).filter((k): k is string => k !== undefined))];
    const cursors = await this.inbox.lockCursors(session, name, keys);
    const verdicts = classify(batch, seen, cursors, this.gapPatience);
    const entries: InboxEntry[] = [];
    const dispositions: Disposition[] = [];
    const fresh = batch.filter((_, index) => verdicts[index] === 'new');
    const together = this.handler.handleBatch !== undefined && fresh.length > 1;
    if (together) await this.handler.handleBatch?.(session, fresh);
    for (const [index, message] of batch.entries()) {
      switch (verdicts[index]) {
        case 'new':
          if (!together) await this.handler.handle(session, message);
          entries.push({
            messageId: message.id,
            outcome: 'applied',
            replacing: seen.get(message.id) === 'dead-lettered',
          });
          dispositions.push({ kind: 'applied' });
          break;
        case 'duplicate':
          dispositions.push({ kind: 'duplicate' });
          break;
        case 'dead-lettered-before':
          // Its dead-letter hand-over may not have happened (a crash after the commit): hand it over again.
          dispositions.push({ kind: 'dead-letter', reason: 'dead-lettered before; replay it to apply it' });
          break;
        case 'gap':
          dispositions.push({
            kind: 'retry',
            reason: 'an earlier message of its aggregate is not applied yet',
          });
          break;
        case 'gap-expired': {
          // Dead-lettered, not applied: the cursor stays before the missing message, so nothing later of
          // the aggregate is applied ahead of it either. A replay of this one waits for it the same way.
          const reason = gapReason(message, cursors);
          if (!seen.has(message.id))
            entries.push({ messageId: message.id, outcome: 'dead-lettered', reason, replacing: false });
          dispositions.push({ kind: 'dead-letter', reason });
          break;
        }
      }
    }
    await this.inbox.record(session, name, entries, cursors);
    return dispositions;
  }

  private async settleFailure(message: InboundMessage, error: unknown): Promise<Disposition> {
    const failure = failureOf(error);
    const permanent = failure.permanent;
    const reason = permanent
      ? failure.reason
      : `failed ${message.deliveryCount + 1} time(s): ${failure.reason}`;
    if (!permanent && message.deliveryCount + 1 < this.options.maxAttempts) {
      this.logger.warn('message failed; it will be redelivered', {
        consumer: this.options.name,
        messageId: message.id,
        gtid: message.gtid,
        error: failure.reason,
      });
      return { kind: 'retry', reason };
    }
    let appliedMeanwhile = false;
    try {
      await this.db.transaction(async (session) => {
        const key = orderingKey(message);
        const cursors = await this.inbox.lockCursors(session, this.options.name, key ? [key] : []);
        const seen = await this.inbox.seen(session, this.options.name, [message.id]);
        // Another delivery of it, held by another consumer, committed while this one failed (on the
        // inbox's key): it is applied, and this copy is a duplicate, not a dead letter.
        if (seen.get(message.id) === 'applied') {
          appliedMeanwhile = true;
          return;
        }
        if (key !== undefined && message.sequence !== undefined)
          cursors.set(key, Math.max(cursors.get(key) ?? 0, message.sequence));
        // A replayed dead letter that fails again is already recorded as dead-lettered.
        const entries: InboxEntry[] = seen.has(message.id)
          ? []
          : [{ messageId: message.id, outcome: 'dead-lettered', reason, replacing: false }];
        await this.inbox.record(session, this.options.name, entries, cursors);
      });
    } catch (recordError) {
      return { kind: 'retry', reason: `could not record the rejection: ${errorMessage(recordError)}` };
    }
    if (appliedMeanwhile) return { kind: 'duplicate' };
    this.logger.warn('message dead-lettered', {
      consumer: this.options.name,
      messageId: message.id,
      gtid: message.gtid,
      reason,
    });
    return { kind: 'dead-letter', reason };
  }
}
