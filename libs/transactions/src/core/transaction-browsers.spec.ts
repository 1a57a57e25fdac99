import {
  ListedTransaction,
  TransactionBrowser,
  TransactionQuery,
  TransactionStyle,
} from '@hospital/transactions';
import { CompositeTransactionBrowser } from './transaction-browsers';

/** One transaction of `style`, created at `at`. */
function record(gtid: string, style: TransactionStyle, at: string, state = 'completed'): ListedTransaction {
  return {
    gtid,
    style,
    state,
    branches: [],
    timeline: [{ at, event: 'started' }],
    retries: 0,
    createdAt: at,
    updatedAt: at,
  };
}

/** A log holding `records`, answering queries as the PostgreSQL browsers do, and counting its calls. */
class FixedBrowser implements TransactionBrowser {
  readonly queries: TransactionQuery[] = [];
  readonly asked: string[] = [];

  constructor(
    private readonly style: TransactionStyle,
    private readonly records: ListedTransaction[],
  ) {}

  list(query: TransactionQuery): Promise<ListedTransaction[]> {
    this.queries.push(query);
    if (query.style !== undefined && query.style !== this.style) return Promise.resolve([]);
    return Promise.resolve(
      this.records
        .filter((r) => query.state === undefined || r.state === query.state)
        .filter((r) => query.before === undefined || Date.parse(r.createdAt) < Date.parse(query.before))
        .sort((a, b) => Date.parse(b.createdAt) - Date.parse(a.createdAt))
        .slice(0, query.limit),
    );
  }

  get(gtid: string): Promise<ListedTransaction | undefined> {
    this.asked.push(gtid);
    return Promise.resolve(this.records.find((r) => r.gtid === gtid));
  }
}

describe('CompositeTransactionBrowser', () => {
  const sagas = new FixedBrowser('saga', [
    record('saga-1', 'saga', '2026-01-05T10:00:00.000Z'),
    record('saga-2', 'saga', '2026-01-05T10:00:03.000Z', 'aborted'),
    record('saga-3', 'saga', '2026-01-05T10:00:05.000Z'),
  ]);
  const tcc = new FixedBrowser('tcc', [
    record('tcc-1', 'tcc', '2026-01-05T10:00:01.000Z', 'confirmed'),
    record('tcc-2', 'tcc', '2026-01-05T10:00:04.000Z', 'cancelled'),
  ]);
  const twoPhase = new FixedBrowser('2pc', [
    record('2pc-1', '2pc', '2026-01-05T10:00:02.000Z', 'committed'),
    record('2pc-2', '2pc', '2026-01-05T10:00:06.000Z', 'aborted'),
  ]);
  const composite = new CompositeTransactionBrowser([sagas, tcc, twoPhase]);

  it('merges every log newest createdAt first', async () => {
    const listed = await composite.list({ limit: 50 });
    expect(listed.map((r) => r.gtid)).toEqual([
      '2pc-2',
      'saga-3',
      'tcc-2',
      'saga-2',
      '2pc-1',
      'tcc-1',
      'saga-1',
    ]);
  });

  it('keeps `limit` overall, asking each log for no more than that', async () => {
    const listed = await composite.list({ limit: 3 });
    expect(listed.map((r) => r.gtid)).toEqual(['2pc-2', 'saga-3', 'tcc-2']);
    for (const browser of [sagas, tcc, twoPhase]) expect(browser.queries.at(-1)).toEqual({ limit: 3 });
  });

  it('passes every filter to every log and merges what they answer', async () => {
    expect((await composite.list({ limit: 50, style: 'tcc' })).map((r) => r.gtid)).toEqual([
      'tcc-2',
      'tcc-1',
    ]);
    expect((await composite.list({ limit: 50, state: 'aborted' })).map((r) => r.gtid)).toEqual([
      '2pc-2',
      'saga-2',
    ]);
    const query = { limit: 2, before: '2026-01-05T10:00:04.000Z' };
    expect((await composite.list(query)).map((r) => r.gtid)).toEqual(['saga-2', '2pc-1']);
    for (const browser of [sagas, tcc, twoPhase]) expect(browser.queries.at(-1)).toEqual(query);
  });

  it('orders transactions of one instant by gtid, so a page is the same every time', async () => {
    const at = '2026-01-05T11:00:00.000Z';
    const same = new CompositeTransactionBrowser([
      new FixedBrowser('saga', [record('b', 'saga', at)]),
      new FixedBrowser('tcc', [record('c', 'tcc', at), record('a', 'tcc', at)]),
    ]);
    expect((await same.list({ limit: 50 })).map((r) => r.gtid)).toEqual(['a', 'b', 'c']);
  });

  it('finds a gtid in whichever log holds it, and nothing when none does', async () => {
    expect(await composite.get('tcc-2')).toMatchObject({ gtid: 'tcc-2', style: 'tcc', state: 'cancelled' });
    expect(await composite.get('2pc-1')).toMatchObject({ gtid: '2pc-1', style: '2pc' });
    expect(await composite.get('saga-1')).toMatchObject({ gtid: 'saga-1', style: 'saga' });
    expect(await composite.get('nowhere')).toBeUndefined();
    for (const browser of [sagas, tcc, twoPhase]) expect(browser.asked.at(-1)).toBe('nowhere');
  });

  it('answers from the first log in order should two hold one gtid', async () => {
    const first = new FixedBrowser('saga', [record('dup', 'saga', '2026-01-05T10:00:00.000Z')]);
    const second = new FixedBrowser('tcc', [record('dup', 'tcc', '2026-01-05T10:00:00.000Z')]);
    expect(await new CompositeTransactionBrowser([first, second]).get('dup')).toMatchObject({
      style: 'saga',
    });
  });

  it('reads its logs at each call, so a module may add one after it is built', async () => {
    const logs: TransactionBrowser[] = [];
    const late = new CompositeTransactionBrowser(() => logs);
    expect(await late.list({ limit: 10 })).toEqual([]);
    logs.push(tcc);
    expect((await late.list({ limit: 10 })).map((r) => r.gtid)).toEqual(['tcc-2', 'tcc-1']);
    expect(await late.get('tcc-1')).toMatchObject({ style: 'tcc' });
  });

  it('fails when a log fails: a partial list is not the whole', async () => {
    const broken: TransactionBrowser = {
      list: () => Promise.reject(new Error('relation "tx_tcc" does not exist')),
      get: () => Promise.reject(new Error('relation "tx_tcc" does not exist')),
    };
    const failing = new CompositeTransactionBrowser([sagas, broken]);
    await expect(failing.list({ limit: 10 })).rejects.toThrow('tx_tcc');
    await expect(failing.get('saga-1')).rejects.toThrow('tx_tcc');
  });
});
