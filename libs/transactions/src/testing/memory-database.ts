/**
 * A tiny in-memory key-value "database" with write-set transactions, standing in for a service's own
 * PostgreSQL data in protocol tests. A `MemoryTx` collects writes privately; nothing is visible in the
 * database until someone applies its write set.
 */
export class MemoryTx {
  private readonly writes = new Map<string, unknown>();

  constructor(private readonly base: ReadonlyMap<string, unknown>) {}

  get(key: string): unknown {
    return this.writes.has(key) ? this.writes.get(key) : this.base.get(key);
  }

  has(key: string): boolean {
    return this.writes.has(key) || this.base.has(key);
  }

  put(key: string, value: unknown): void {
    this.writes.set(key, value);
  }

  /** The writes made so far, in order. */
  get writeSet(): ReadonlyMap<string, unknown> {
    return this.writes;
  }
}

/** Durable rows of one node: survives that node's crashes. */
export class MemoryDatabase {
  private readonly rows = new Map<string, unknown>();

  /** A new local transaction reading the committed rows. */
  begin(): MemoryTx {
    return new MemoryTx(this.rows);
  }

  /** Makes a write set durable in one atomic step. */
  apply(writes: ReadonlyMap<string, unknown>): void {
    for (const [key, value] of writes) this.rows.set(key, value);
  }

  get(key: string): unknown {
    return this.rows.get(key);
  }

  has(key: string): boolean {
    return this.rows.has(key);
  }

  keys(): string[] {
    return [...this.rows.keys()];
  }
}

export type StorageAccess = 'read' | 'write';

/**
 * How an in-memory adapter reaches its durable storage. The default runs every operation at once; a
 * simulated world instead turns each write into a schedulable step (so a crash can fall between any two
 * durable steps) and never answers a node that has crashed.
 */
export type StorageGate = <T>(access: StorageAccess, label: string, operation: () => T) => Promise<T>;

export const immediateStorage: StorageGate = <T>(
  _access: StorageAccess,
  _label: string,
  operation: () => T,
) => Promise.resolve().then(operation);
