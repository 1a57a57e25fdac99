/**
 * Coalesces calls to one peer: a call made while earlier batches are in flight waits and leaves with the
 * next batch. At low load every call goes out at once, alone; under load many calls share one message,
 * which is what a protocol step costs most here (a request and its reply, not the work behind them).
 */
export class Coalescer<I, O> {
  private readonly queue: { item: I; resolve: (value: O) => void; reject: (error: unknown) => void }[] = [];
  private inFlight = 0;

  constructor(
    /** Sends a batch; resolves with one result per item, in order (an Error for an item that failed). */
    private readonly send: (items: I[]) => Promise<(O | Error)[]>,
    private readonly maxBatch = 64,
    private readonly maxInFlight = 2,
  ) {}

  submit(item: I): Promise<O> {
    return new Promise<O>((resolve, reject) => {
      this.queue.push({ item, resolve, reject });
      this.pump();
    });
  }

  private pump(): void {
    while (this.inFlight < this.maxInFlight && this.queue.length > 0) {
      const batch = this.queue.splice(0, this.maxBatch);
      this.inFlight += 1;
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
          this.inFlight -= 1;
          this.pump();
        });
    }
  }
}
