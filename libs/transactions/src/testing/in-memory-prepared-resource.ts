import { Clock } from '../core/clock';
import { errorMessage } from '../core/observer';
import { InDoubtBranch, PreparedResource } from '../ports/two-phase-commit.ports';
import { CommitAck, Vote } from '../two-phase-commit/types';
import { immediateStorage, MemoryDatabase, MemoryTx, StorageGate } from './memory-database';

/** What a participant durably holds for one gtid. `aborted` is the tombstone a late prepare meets. */
export type StoredBranchState = 'prepared' | 'committed' | 'aborted';

export interface StoredBranch {
  gtid: string;
  coordinator: string;
  state: StoredBranchState;
  /** The prepared write set (emptied once resolved). */
  writes: ReadonlyMap<string, unknown>;
  preparedAt?: number;
  resolvedAt?: number;
}

/**
 * The durable side of one participant: its own rows and its prepared / resolved branches, as the
 * participant's PostgreSQL (`pg_prepared_xacts` plus a branch table) would keep them across crashes.
 */
export class PreparedResourceStore {
  readonly database = new MemoryDatabase();
  readonly branches = new Map<string, StoredBranch>();
  /** Orders a correct coordinator can never give (abort of a committed branch, commit of an aborted one). */
  readonly violations: string[] = [];

  constructor(readonly name: string = 'participant') {}

  state(gtid: string): StoredBranchState | undefined {
    return this.branches.get(gtid)?.state;
  }

  prepared(): StoredBranch[] {
    return [...this.branches.values()].filter((b) => b.state === 'prepared');
  }
}

export interface InMemoryPreparedResourceOptions {
  clock: Pick<Clock, 'now'>;
  gate?: StorageGate;
}

const YES: Vote = { vote: 'yes' };

/**
 * `PreparedResource` with the semantics of a PostgreSQL prepared transaction: the work runs on a private
 * write set, PREPARE makes it durable in one step, COMMIT PREPARED applies it, ROLLBACK PREPARED drops it
 * and leaves a tombstone so that a prepare arriving late votes NO.
 */
export class InMemoryPreparedResource implements PreparedResource<MemoryTx> {
  private readonly clock: Pick<Clock, 'now'>;
  private readonly gate: StorageGate;

  constructor(
    readonly store: PreparedResourceStore,
    options: InMemoryPreparedResourceOptions,
  ) {
    this.clock = options.clock;
    this.gate = options.gate ?? immediateStorage;
  }

  async prepare(gtid: string, coordinator: string, work: (tx: MemoryTx) => Promise<void>): Promise<Vote> {
    const before = await this.gate('read', `${this.store.name} prepare-check ${gtid}`, () =>
      this.store.state(gtid),
    );
    if (before === 'prepared' || before === 'committed') return YES;
    if (before === 'aborted') return { vote: 'no', reason: `branch ${gtid} was already aborted` };

    const tx = this.store.database.begin();
    try {
      await work(tx);
    } catch (error) {
      // The local transaction rolls back: nothing is kept, not even a tombstone.
      return { vote: 'no', reason: errorMessage(error) };
    }
    return this.gate('write', `${this.store.name} prepare ${gtid}`, (): Vote => {
      const current = this.store.branches.get(gtid);
      if (current?.state === 'aborted')
        return { vote: 'no', reason: `branch ${gtid} was aborted while preparing` };
      if (current) return YES;
      this.store.branches.set(gtid, {
        gtid,
        coordinator,
        state: 'prepared',
        writes: new Map(tx.writeSet),
        preparedAt: this.clock.now(),
      });
      return YES;
    });
  }

  /** The simulated worlds have one coordinator, so a gtid alone names a branch here. */
  commit(gtid: string, _coordinator: string): Promise<CommitAck> {
    return this.gate('write', `${this.store.name} commit ${gtid}`, (): CommitAck => {
      const branch = this.store.branches.get(gtid);
      if (!branch) return 'unknown';
      switch (branch.state) {
        case 'committed':
          return 'committed';
        case 'prepared':
          this.store.database.apply(branch.writes);
          this.store.branches.set(gtid, {
            ...branch,
            state: 'committed',
            writes: new Map(),
            resolvedAt: this.clock.now(),
          });
          return 'committed';
        case 'aborted':
          this.store.violations.push(`${this.store.name}: commit ordered for aborted branch ${gtid}`);
          return 'unknown';
      }
    });
  }

  abort(gtid: string, coordinator: string): Promise<void> {
    return this.gate('write', `${this.store.name} abort ${gtid}`, () => {
      const now = this.clock.now();
      const branch = this.store.branches.get(gtid);
      if (!branch) {
        this.store.branches.set(gtid, {
          gtid,
          coordinator,
          state: 'aborted',
          writes: new Map(),
          resolvedAt: now,
        });
        return;
      }
      switch (branch.state) {
        case 'aborted':
          return;
        case 'prepared':
          this.store.branches.set(gtid, { ...branch, state: 'aborted', writes: new Map(), resolvedAt: now });
          return;
        case 'committed':
          // Left alone, and refused as PostgreSQL's adapter does; a correct coordinator never gets here.
          this.store.violations.push(`${this.store.name}: abort ordered for committed branch ${gtid}`);
          throw new Error(`branch ${gtid} is already committed and cannot be aborted`);
      }
    });
  }

  inDoubt(olderThan: Date): Promise<InDoubtBranch[]> {
    return this.gate('read', `${this.store.name} in-doubt`, () =>
      this.store
        .prepared()
        .filter((b) => (b.preparedAt ?? 0) < olderThan.getTime())
        .map((b) => ({ gtid: b.gtid, coordinator: b.coordinator, preparedAt: new Date(b.preparedAt ?? 0) })),
    );
  }
}
