import { DynamicModule, Injectable, Module, Provider } from '@nestjs/common';
import { Database } from '@hospital/platform';
import { PostgresMessageBrowser } from '../adapters/postgres/postgres-message-transaction';
import { PostgresNotificationBrowser } from '../adapters/postgres/postgres-notification-browser';
import { PostgresQuotaSagaBrowser } from '../adapters/postgres/postgres-quota-saga-log';
import { PostgresSagaBrowser } from '../adapters/postgres/postgres-saga-log';
import { PostgresTccBrowser } from '../adapters/postgres/postgres-tcc-log';
import { CompositeTransactionBrowser } from '../core/transaction-browsers';
import { TransactionBrowser } from '../ports/global-transaction';
import { InDoubtAdmins, InDoubtController } from './transactions-admin.controller';
import { TransactionsController } from './two-phase-commit.controllers';

/**
 * The logs a service's `/api/transactions` reads, by name (`2pc`, `saga`…), in the order the modules
 * added them. A log added twice (two feature modules of one style) is read once.
 */
@Injectable()
export class TransactionBrowserRegistry {
  private readonly browsers = new Map<string, TransactionBrowser>();

  add(log: string, browser: TransactionBrowser): void {
    if (!this.browsers.has(log)) this.browsers.set(log, browser);
  }

  logs(): string[] {
    return [...this.browsers.keys()];
  }

  all(): TransactionBrowser[] {
    return [...this.browsers.values()];
  }
}

/**
 * `/api/transactions` of a service, registered once however many of its modules keep a log: every
 * module that does imports this module (a static one, so the app holds one instance of it and of its
 * controllers) and adds its log's browser to the `TransactionBrowserRegistry` with `transactionBrowser()`.
 * The controller lists them all through one `CompositeTransactionBrowser`. `/api/transactions/in-doubt`
 * is registered here too, before `/api/transactions/:gtid` (which would take `in-doubt` for a gtid),
 * over the `InDoubtAdmin` that `TwoPhaseCommitModule` sets in `InDoubtAdmins`.
 */
@Module({
  controllers: [InDoubtController, TransactionsController],
  providers: [
    InDoubtAdmins,
    TransactionBrowserRegistry,
    {
      provide: CompositeTransactionBrowser,
      inject: [TransactionBrowserRegistry],
      useFactory: (registry: TransactionBrowserRegistry) =>
        new CompositeTransactionBrowser(() => registry.all()),
    },
  ],
  exports: [TransactionBrowserRegistry, CompositeTransactionBrowser, InDoubtAdmins],
})
export class TransactionsApiModule {}

/**
 * A provider that adds `log`'s browser to the service's `/api/transactions` when the module is built
 * (the module must import `TransactionsApiModule`). `browser` makes it from the providers in `inject`.
 */
export function transactionBrowser(
  log: string,
  inject: readonly unknown[],
  browser: (...deps: never[]) => TransactionBrowser,
): Provider {
  return {
    provide: Symbol(`transaction browser of ${log}`),
    inject: [TransactionBrowserRegistry, ...inject] as never[],
    useFactory: (registry: TransactionBrowserRegistry, ...deps: never[]) => {
      const made = browser(...deps);
      registry.add(log, made);
      return made;
    },
  };
}

/** The logs without a Nest module of their own that a service may list: each is read in its database. */
export type BrowsedLog = 'saga' | 'tcc' | 'quota-saga' | 'message' | 'best-effort';

const BROWSERS: Record<BrowsedLog, (db: Database) => TransactionBrowser> = {
  saga: (db) => new PostgresSagaBrowser(db),
  tcc: (db) => new PostgresTccBrowser(db),
  'quota-saga': (db) => new PostgresQuotaSagaBrowser(db),
  message: (db) => new PostgresMessageBrowser(db),
  'best-effort': (db) => new PostgresNotificationBrowser(db),
};

/**
 * Lists the logs a service keeps in its `Database` at `/api/transactions`, beside any other module's:
 * `TransactionBrowsersModule.forFeature(['saga', 'tcc', 'quota-saga'])` in the feature module whose
 * engines write them. `MessageTransactionModule.forRoot()` and `BestEffortModule.forRoot()` list theirs
 * themselves.
 */
@Module({})
export class TransactionBrowsersModule {
  static forFeature(logs: readonly BrowsedLog[]): DynamicModule {
    return {
      module: TransactionBrowsersModule,
      imports: [TransactionsApiModule],
      providers: [...new Set(logs)].map((log) =>
        transactionBrowser(log, [Database], (db: Database) => BROWSERS[log](db)),
      ),
    };
  }
}
