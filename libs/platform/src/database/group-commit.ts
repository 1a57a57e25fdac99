/** One item's outcome in its group: a value, or the error that refused it alone (the others unaffected). */
export type GroupOutcome<R> = { value: R } | { error: unknown };

export interface GroupCommitOptions<I, R> {
  /**
   * Runs one group — in one local transaction, typically — and answers each item in order. Throwing fails
   * the whole group (nothing committed): its items are then run again one by one, so one item that cannot
   * be written fails alone and the others are not held back by it.
   */
  run(items: readonly I[]): Promise<GroupOutcome<R>[]>;
  /** The most items in one group. */
  maxItems: number;
  /** The most groups running at once (sessions in use). */
  maxGroups: number;
}

interface Pending<I, R> {
  item: I;
  resolve(value: R): void;
  reject(error: unknown): void;
}

/**
 * Group commit: items submitted while the groups in flight run are gathered and written together by the
 * next group, so that under load one transaction (and one WAL flush) carries many items, and an item
 * submitted to an idle committer starts at once (no timer, no added latency). Each `submit` settles exactly
 * once, with its own value or error.
 */
export class GroupCommit<I, R> {
  private readonly queue: Pending<I, R>[] = [];
  private running = 0;

  constructor(private readonly options: GroupCommitOptions<I, R>) {
    if (!(options.maxItems >= 1) || !(options.maxGroups >= 1))
      throw new RangeError('GroupCommit needs maxItems and maxGroups of at least 1');
  }

  submit(item: I): Promise<R> {
    return new Promise<R>((resolve, reject) => {
      this.queue.push({ item, resolve, reject });
      this.startGroups();
    });
  }

  /** Items waiting for a group. */
  get waiting(): number {
    return this.queue.length;
  }

  private startGroups(): void {
    while (this.running < this.options.maxGroups && this.queue.length > 0) {
      const group = this.queue.splice(0, this.options.maxItems);
      this.running += 1;
      void this.runGroup(group).finally(() => {
        this.running -= 1;
        this.startGroups();
      });
    }
  }

  private async runGroup(group: Pending<I, R>[]): Promise<void> {
    let outcomes: GroupOutcome<R>[];
    try {
      outcomes = await this.options.run(group.map((p) => p.item));
      if (outcomes.length !== group.length)
        throw new Error(`A group of ${group.length} was answered with ${outcomes.length} outcomes`);
    } catch (error) {
      if (group.length === 1) {
        group[0].reject(error);
        return;
      }
      for (const single of group) await this.runGroup([single]);
      return;
    }
    outcomes.forEach((outcome, i) => {
      if ('error' in outcome) group[i].reject(outcome.error);
      else group[i].resolve(outcome.value);
    });
  }
}
