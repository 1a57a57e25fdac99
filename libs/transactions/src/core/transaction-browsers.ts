import { ListedTransaction, TransactionBrowser, TransactionQuery } from '../ports/global-transaction';

/** Newest `createdAt` first; transactions created at the same instant by gtid, so a page is stable. */
export function newestFirst(a: ListedTransaction, b: ListedTransaction): number {
  const byAge = Date.parse(b.createdAt) - Date.parse(a.createdAt);
  if (byAge !== 0) return byAge;
  return a.gtid < b.gtid ? -1 : a.gtid > b.gtid ? 1 : 0;
}

/**
 * Every log of a service behind one browser, for the one `/api/transactions` a service serves whatever
 * styles it runs. `list` asks each log for the whole query (each filters and limits in its own SQL, so
 * none answers more than `limit`), merges the answers newest `createdAt` first and keeps `limit` overall;
 * `get` answers from whichever log holds the gtid — the first in `browsers` order should two of them hold
 * it (a gtid names one transaction, so they do not). A log that fails fails the request: an operator must
 * not take a partial list for the whole.
 */
export class CompositeTransactionBrowser implements TransactionBrowser {
  private readonly browsers: () => readonly TransactionBrowser[];

  /** `browsers` may be a function, read at each call: modules may add their log after this is built. */
  constructor(browsers: readonly TransactionBrowser[] | (() => readonly TransactionBrowser[])) {
    this.browsers = typeof browsers === 'function' ? browsers : () => browsers;
  }

  async list(query: TransactionQuery): Promise<ListedTransaction[]> {
    const lists = await Promise.all(this.browsers().map((browser) => browser.list(query)));
    return lists.flat().sort(newestFirst).slice(0, query.limit);
  }

  async get(gtid: string): Promise<ListedTransaction | undefined> {
    const found = await Promise.all(this.browsers().map((browser) => browser.get(gtid)));
    return found.find((record) => record !== undefined);
  }
}
