import { useMemo, useRef, useState } from 'react';
import { fanOut, query, type FanOut } from '../api';
import { Badge } from '../components/Badge';
import { Empty, ErrorLine, Forbidden, Toolbar, Warnings } from '../components/Status';
import { containsText, formatInstant } from '../format';
import { href, useLoader } from '../hooks';
import { KNOWN_STATES, STYLES, type FromService, type TransactionRecord } from '../types';

type Row = FromService<TransactionRecord>;

const REFRESH_MS = 3_000;

/** Every service's transactions, newest first, each tagged with the service that coordinates it. */
function merge(out: FanOut<TransactionRecord[]>): Row[] {
  const rows = out.results.flatMap(({ service, value }) =>
    Array.isArray(value) ? value.map((tx) => ({ ...tx, service })) : [],
  );
  return rows.sort((a, b) => Date.parse(b.createdAt) - Date.parse(a.createdAt));
}

/** The global transactions of every service: filter by style, state and any text; refreshed every 3 s. */
export function TransactionsScreen({ initialText = '' }: { initialText?: string }) {
  const [style, setStyle] = useState('');
  const [state, setState] = useState('');
  const [text, setText] = useState(initialText);
  const [autoRefresh, setAutoRefresh] = useState(true);

  // Every state seen so far, and the protocols' own: a whole state name filters at the services (so
  // older transactions in that state show too); part of one filters the rows on this page.
  const seen = useRef(new Set<string>(KNOWN_STATES));
  const serverState = seen.current.has(state.trim()) ? state.trim() : undefined;
  const rest = `transactions${query({ style, state: serverState, limit: 100 })}`;
  const loaded = useLoader(
    (signal) => fanOut<TransactionRecord[]>(rest, signal),
    rest,
    autoRefresh ? REFRESH_MS : undefined,
  );

  const all = useMemo(() => (loaded.data ? merge(loaded.data) : []), [loaded.data]);
  for (const tx of all) seen.current.add(tx.state);
  const states = [...seen.current].sort();
  const rows = useMemo(() => {
    const needle = text.trim().toLowerCase();
    const stateNeedle = state.trim().toLowerCase();
    return all.filter(
      (tx) =>
        (style === '' || tx.style === style) &&
        (stateNeedle === '' || tx.state.toLowerCase().includes(stateNeedle)) &&
        containsText(tx, needle),
    );
  }, [all, style, state, text]);

  return (
    <section data-testid="transactions">
      <Toolbar title="Transactions" loading={loaded.loading} at={loaded.at}>
        <label>
          style{' '}
          <select data-testid="filter-style" value={style} onChange={(e) => setStyle(e.target.value)}>
            <option value="">all</option>
            {STYLES.map((s) => (
              <option key={s} value={s}>
                {s}
              </option>
            ))}
          </select>
        </label>
        <label>
          state{' '}
          <input
            data-testid="filter-state"
            list="tx-states"
            size={12}
            placeholder="any"
            value={state}
            onChange={(e) => setState(e.target.value)}
          />
          <datalist id="tx-states">
            {states.map((s) => (
              <option key={s} value={s} />
            ))}
          </datalist>
        </label>
        <label>
          search{' '}
          <input
            data-testid="filter-patient"
            type="search"
            size={24}
            placeholder="gtid, correlation id, patient…"
            value={text}
            onChange={(e) => setText(e.target.value)}
          />
        </label>
        <label className="check">
          <input
            type="checkbox"
            data-testid="auto-refresh"
            checked={autoRefresh}
            onChange={(e) => setAutoRefresh(e.target.checked)}
          />{' '}
          auto-refresh 3 s
        </label>
        <button type="button" onClick={loaded.reload}>
          Refresh
        </button>
      </Toolbar>
      <ErrorLine error={loaded.error} />
      {loaded.data?.forbidden ? (
        <Forbidden />
      ) : (
        <>
          <Warnings warnings={loaded.data?.warnings ?? []} />
          <TransactionsTable rows={rows} />
          {loaded.data && rows.length === 0 ? <Empty>No transactions match.</Empty> : null}
          <p className="muted small">
            {rows.length} of {all.length} shown (the newest 100 per service).
          </p>
        </>
      )}
    </section>
  );
}

function TransactionsTable({ rows }: { rows: Row[] }) {
  return (
    <div className="table-wrap">
      <table data-testid="transactions-table">
        <thead>
          <tr>
            <th>created</th>
            <th>service</th>
            <th>style</th>
            <th>state</th>
            <th>gtid</th>
            <th>branches</th>
            <th className="num">retries</th>
          </tr>
        </thead>
        <tbody>
          {rows.map((tx) => (
            <tr
              key={`${tx.service}/${tx.gtid}`}
              data-testid="tx-row"
              data-gtid={tx.gtid}
              data-service={tx.service}
            >
              <td className="nowrap" title={tx.createdAt}>
                {formatInstant(tx.createdAt)}
              </td>
              <td>{tx.service}</td>
              <td>{tx.style}</td>
              <td>
                <Badge state={tx.state} />
              </td>
              <td className="mono">
                <a href={href('transactions', tx.service, tx.gtid)} data-testid="tx-link">
                  {tx.gtid}
                </a>
                {tx.correlationId && tx.correlationId !== tx.gtid ? (
                  <div className="muted small">{tx.correlationId}</div>
                ) : null}
              </td>
              <td>{(tx.branches ?? []).map((b) => b.participant).join(', ')}</td>
              <td className={`num${tx.retries > 0 ? ' attention' : ''}`}>{tx.retries}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}
