import type { ReactNode } from 'react';
import { ApiError, getJson, servicePath } from '../api';
import { Badge } from '../components/Badge';
import { columnsOf, GenericTable } from '../components/GenericTable';
import { Empty, ErrorLine, Forbidden, Toolbar } from '../components/Status';
import { formatInstant } from '../format';
import { href, useLoader } from '../hooks';
import type { TimelineStep, TransactionRecord } from '../types';

const REFRESH_MS = 3_000;

/** The kind of step, from its event text: votes, retries, compensations and aborts stand out. */
function stepKind(event: string): string | undefined {
  const e = event.toLowerCase();
  if (e.includes('compensat')) return 'compensation';
  if (e.includes('abort')) return 'abort';
  if (e.includes('retry')) return 'retry';
  if (e.includes('vote')) return 'vote';
  return undefined;
}

/** One global transaction: its header, branches and the timeline of what the protocol did. */
export function TimelineScreen({ service, gtid }: { service: string; gtid: string }) {
  const path = servicePath(service, `transactions/${encodeURIComponent(gtid)}`);
  const loaded = useLoader((signal) => getJson<TransactionRecord>(path, signal), path, REFRESH_MS);
  const tx = loaded.data;
  const forbidden = loaded.error instanceof ApiError && loaded.error.forbidden;

  return (
    <section data-testid="timeline">
      <Toolbar title={`Transaction ${gtid}`} loading={loaded.loading} at={loaded.at}>
        <a href={href('transactions')}>← all transactions</a>
        <button type="button" onClick={loaded.reload}>
          Refresh
        </button>
      </Toolbar>
      {forbidden ? <Forbidden /> : <ErrorLine error={loaded.error} />}
      {tx ? (
        <>
          <TransactionHeader tx={tx} service={service} />
          <h3>Branches</h3>
          {tx.branches?.length ? (
            <GenericTable
              testId="branches-table"
              rowTestId="branch-row"
              rows={tx.branches}
              columns={columnsOf(tx.branches, ['participant', 'state', 'vote'])}
            />
          ) : (
            <Empty>No branches.</Empty>
          )}
          <h3>Timeline</h3>
          <Timeline steps={tx.timeline ?? []} />
        </>
      ) : null}
    </section>
  );
}

function TransactionHeader({ tx, service }: { tx: TransactionRecord; service: string }) {
  const items: [string, ReactNode][] = [
    ['gtid', <span className="mono">{tx.gtid}</span>],
    ['style', tx.style],
    ['state', <Badge state={tx.state} />],
    ['service', service],
    ['created', formatInstant(tx.createdAt)],
    ['updated', formatInstant(tx.updatedAt)],
    ['retries', String(tx.retries)],
  ];
  if (tx.correlationId) items.push(['correlation id', <span className="mono">{tx.correlationId}</span>]);
  if (typeof tx.traceId === 'string' && tx.traceId !== '')
    items.push([
      'trace id',
      <span className="mono" data-testid="trace-id">
        {tx.traceId}
      </span>,
    ]);
  if (tx.lastError) items.push(['last error', <span className="error-text">{tx.lastError}</span>]);
  return (
    <dl className="facts" data-testid="timeline-header">
      {items.map(([term, value]) => (
        <div key={term}>
          <dt>{term}</dt>
          <dd>{value}</dd>
        </div>
      ))}
    </dl>
  );
}

function Timeline({ steps }: { steps: TimelineStep[] }) {
  if (steps.length === 0) return <Empty>No steps recorded.</Empty>;
  return (
    <ol className="timeline">
      {steps.map((step, i) => {
        const kind = stepKind(step.event);
        const { at, event, ...rest } = step;
        const details = Object.entries(rest);
        return (
          <li key={i} data-testid="timeline-step" className={kind ? `step step-${kind}` : 'step'}>
            <time dateTime={at} title={at}>
              {formatInstant(at)}
              <span className="ms">{/\.(\d{3})/.exec(at)?.[0] ?? ''}</span>
            </time>
            <span className="event">{event}</span>
            {kind ? <span className={`tag tag-${kind}`}>{kind}</span> : null}
            {details.length > 0 ? (
              <span className="muted small">
                {' '}
                {details.map(([k, v]) => `${k}=${JSON.stringify(v)}`).join(' ')}
              </span>
            ) : null}
          </li>
        );
      })}
    </ol>
  );
}
