/** How a Coalescer batches: sizes, and when a slow batch stops holding the next one back. */
export interface CoalescerOptions {
  /** Most items in one batch. */
  maxBatch: number;
  /** Batches in flight at once while they answer promptly. */
  maxInFlight: number;
  /**
   * A batch out for longer than this is stalled (a peer waiting on a lock, or one not answering): calls
   * queued behind it leave in a batch of their own instead of waiting for it.
   */
  stallAfterMs: number;
  /** Batches in flight at most, stalled ones included. */
  maxStalledInFlight: number;
}

const defaults: CoalescerOptions = { maxBatch: 64, maxInFlight: 2, stallAfterMs: 100, maxStalledInFlight: 8 };

/**
 * Coalesces calls to one peer: a call made while earlier batches are in flight waits and leaves with the
 * next batch. At low load every call goes out at once, alone; under load many calls share one message,
 * which is what a protocol step costs most here (a request and its reply, not the work behind them).
 * A batch that stalls holds nobody back for longer than `stallAfterMs`: a vote never waits behind
 * another transaction's lock wait or a time-out.
 */
export class Coalescer<I, O> {
  private readonly queue: { item: I; resolve: (value: O) => void; reject: (error: unknown) => void }[] = [];
  /** Start times of the batches in flight. */
  private readonly inFlight = new Set<{ startedAt: number }>();
  private readonly options: CoalescerOptions;
  private stallTimer?: NodeJS.Timeout;

  constructor(
    /** Sends a batch; resolves with one result per item, in order (an Error for an item that failed). */
    private readonly send: (items: I[]) => Promise<(O | Error)[]>,
    options: Partial<CoalescerOptions> = {},
  ) {
    this.options = { ...defaults, ...options };
  }

  submit(item: I): Promise<O> {
    return new Promise<O>((resolve, reject) => {
      this.queue.push({ item, resolve, reject });
      this.pump();
    });
  }

  private pump(): void {
    while (this.queue.length > 0 && this.mayLeave()) {
      const batch = this.queue.splice(0, this.options.maxBatch);
      const flight = { startedAt: Date.now() };
      this.inFlight.add(flight);
      this.send(batch.map((b) => b.item))
        .then(
          (results) =>
            batch.forEach((b, i) => {
              const result = results[i];
              if (result === undefined) b.reject(new Error('peer answered a batch without this item'));
              else if (result instanceof Error) b.reject(result);
              else b.resolve(result);
            }),
          (error: unknown) => batch.forEach((b) => b.reject(error)),
        )
        .finally(() => {
          this.inFlight.delete(flight);
          this.pump();
        });
    }
    if (this.queue.length > 0) this.watchForStall();
  }

  /** True when a new batch may leave now: few enough in flight, or every one in flight has stalled. */
  private mayLeave(): boolean {
    const { maxInFlight, maxStalledInFlight, stallAfterMs } = this.options;
    if (this.inFlight.size < maxInFlight) return true;
    if (this.inFlight.size >= maxStalledInFlight) return false;
    const stalledBefore = Date.now() - stallAfterMs;
    return [...this.inFlight].every((flight) => flight.startedAt <= stalledBefore);
  }

  /** Looks again once the youngest batch in flight would count as stalled. */
  private watchForStall(): void {
    if (this.stallTimer !== undefined || this.inFlight.size >= this.options.maxStalledInFlight) return;
    const youngest = Math.max(...[...this.inFlight].map((flight) => flight.startedAt));
    const wait = Math.max(1, youngest + this.options.stallAfterMs - Date.now());
    this.stallTimer = setTimeout(() => {
      this.stallTimer = undefined;
      this.pump();
    }, wait);
    this.stallTimer.unref();
  }
}
