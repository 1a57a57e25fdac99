import { useEffect, useState, type FormEvent } from 'react';
import { ApiError, download, errorText, getJson, query } from '../api';
import { Empty, ErrorLine, Forbidden, Toolbar } from '../components/Status';
import { formatInstant, fromLocalInput, toLocalInput } from '../format';
import type { AuditEvent, Bundle } from '../types';

const ACTIONS: Record<string, string> = { C: 'create', R: 'read', U: 'update', D: 'delete', E: 'execute' };
const OUTCOMES: Record<string, string> = {
  '0': 'success',
  '4': 'minor failure',
  '8': 'serious failure',
  '12': 'major failure',
};

interface Criteria {
  patient: string;
  agent: string;
  action: string;
  outcome: string;
  from: string;
  to: string;
  /** The user set `to` (else it is "now"). */
  toChanged: boolean;
}

/**
 * The instants of the range: `to` as entered, or this very moment while the user has not changed it (the
 * field shows the minute the screen opened; records keep arriving after that).
 */
function rangeOf(c: Criteria): { from?: string; to?: string } {
  const to = c.toChanged ? fromLocalInput(c.to) : new Date(Date.now() + 1_000).toISOString();
  return { from: fromLocalInput(c.from), to };
}

/** `/fhir/AuditEvent?…` for the criteria, newest first. */
function searchPath(c: Criteria): string {
  const { from, to } = rangeOf(c);
  const params = new URLSearchParams(
    query({
      patient: c.patient.trim(),
      agent: c.agent.trim(),
      action: c.action.trim(),
      outcome: c.outcome.trim(),
    }),
  );
  if (from) params.append('date', `ge${from}`);
  if (to) params.append('date', `lt${to}`);
  params.set('_sort', '-date');
  params.set('_count', '50');
  return `/fhir/AuditEvent?${params.toString()}`;
}

/** A Bundle link (absolute, naming whichever host answered) as a path on this origin. */
function sameOrigin(url: string): string {
  const parsed = new URL(url, window.location.origin);
  const at = parsed.pathname.indexOf('/fhir/');
  return `${at >= 0 ? parsed.pathname.slice(at) : parsed.pathname}${parsed.search}`;
}

const agentOf = (e: AuditEvent): string =>
  e.agent?.[0]?.who?.identifier?.value ?? e.agent?.[0]?.who?.display ?? e.agent?.[0]?.who?.reference ?? '—';

const entitiesOf = (e: AuditEvent): string =>
  (e.entity ?? []).flatMap((x) => (x.what?.reference ? [x.what.reference] : [])).join(', ') || '—';

interface Page {
  events: AuditEvent[];
  total?: number;
  next?: string;
  previous?: string;
}

/** The audit trail (FHIR AuditEvent search, paged), its hash-chain verification and the CSV export. */
export function AuditScreen() {
  const now = new Date();
  const [criteria, setCriteria] = useState<Criteria>({
    patient: '',
    agent: '',
    action: '',
    outcome: '',
    from: toLocalInput(new Date(now.getTime() - 24 * 3600 * 1000)),
    to: toLocalInput(now),
    toChanged: false,
  });
  const [page, setPage] = useState<Page>();
  const [error, setError] = useState<unknown>();
  const [loading, setLoading] = useState(false);
  const [verify, setVerify] = useState<{ ok: boolean; text: string; report?: unknown }>();
  const [exported, setExported] = useState<string>();

  const set = (field: Exclude<keyof Criteria, 'toChanged'>) => (e: { target: { value: string } }) =>
    setCriteria((c) => ({ ...c, [field]: e.target.value, ...(field === 'to' ? { toChanged: true } : {}) }));

  const fetchPage = async (path: string) => {
    setLoading(true);
    setError(undefined);
    try {
      const bundle = await getJson<Bundle<AuditEvent>>(path);
      const link = (rel: string) => bundle.link?.find((l) => l.relation === rel)?.url;
      const next = link('next');
      const previous = link('previous') ?? link('prev');
      setPage({
        events: (bundle.entry ?? []).flatMap((x) => (x.resource ? [x.resource] : [])),
        total: bundle.total,
        ...(next ? { next: sameOrigin(next) } : {}),
        ...(previous ? { previous: sameOrigin(previous) } : {}),
      });
    } catch (e) {
      setError(e);
    } finally {
      setLoading(false);
    }
  };

  const search = (event?: FormEvent) => {
    event?.preventDefault();
    void fetchPage(searchPath(criteria));
  };

  const runVerify = async () => {
    try {
      const report = await getJson<{ broken?: Record<string, unknown>; checked?: number; lastSeq?: number }>(
        '/api/audit/audit/verify',
      );
      const b = report.broken;
      setVerify(
        b
          ? {
              ok: false,
              text: `broken at seq ${String(b.seq)} (${String(b.kind)}), record ${String(b.id)}`,
              report,
            }
          : {
              ok: true,
              text: `ok: ${report.checked ?? '?'} records checked, chain intact to seq ${report.lastSeq ?? '?'}`,
              report,
            },
      );
    } catch (e) {
      setVerify({ ok: false, text: errorText(e) });
    }
  };

  const runExport = async () => {
    const { from, to } = rangeOf(criteria);
    if (!from || !to) {
      setExported('choose both dates for the export');
      return;
    }
    try {
      const name = await download(`/api/audit/audit/export${query({ from, to })}`, 'audit.csv');
      setExported(`downloaded ${name}`);
    } catch (e) {
      setExported(`export failed: ${errorText(e)}`);
    }
  };

  // The last 24 hours on opening the screen.
  useEffect(() => search(), []);

  const forbidden = error instanceof ApiError && error.forbidden;

  return (
    <section data-testid="audit">
      <Toolbar title="Audit trail" loading={loading}>
        <button type="button" data-testid="audit-verify" onClick={() => void runVerify()}>
          Verify chain
        </button>
        <button type="button" data-testid="audit-export" onClick={() => void runExport()}>
          Export CSV
        </button>
      </Toolbar>
      <form className="search-form" onSubmit={search}>
        <label>
          patient{' '}
          <input
            data-testid="audit-patient"
            placeholder="Patient/… or id"
            value={criteria.patient}
            onChange={set('patient')}
          />
        </label>
        <label>
          agent{' '}
          <input
            data-testid="audit-agent"
            placeholder="user or service id"
            value={criteria.agent}
            onChange={set('agent')}
          />
        </label>
        <label>
          action{' '}
          <input
            data-testid="audit-action"
            list="audit-actions"
            size={4}
            placeholder="C R U D E"
            value={criteria.action}
            onChange={set('action')}
          />
          <datalist id="audit-actions">
            {Object.entries(ACTIONS).map(([code, label]) => (
              <option key={code} value={code}>
                {label}
              </option>
            ))}
          </datalist>
        </label>
        <label>
          outcome{' '}
          <input
            data-testid="audit-outcome"
            list="audit-outcomes"
            size={4}
            placeholder="0 4 8"
            value={criteria.outcome}
            onChange={set('outcome')}
          />
          <datalist id="audit-outcomes">
            {Object.entries(OUTCOMES).map(([code, label]) => (
              <option key={code} value={code}>
                {label}
              </option>
            ))}
          </datalist>
        </label>
        <label>
          from{' '}
          <input
            type="datetime-local"
            data-testid="audit-from"
            value={criteria.from}
            onChange={set('from')}
          />
        </label>
        <label>
          to{' '}
          <input
            type="datetime-local"
            data-testid="audit-to"
            title="now, unless you change it"
            value={criteria.to}
            onChange={set('to')}
          />
        </label>
        <button type="submit" className="primary" data-testid="audit-search">
          Search
        </button>
      </form>
      {verify ? (
        <div className={`notice ${verify.ok ? 'success' : 'error'}`} data-testid="verify-result">
          <strong>{verify.text}</strong>
          {verify.report !== undefined ? <pre>{JSON.stringify(verify.report, null, 2)}</pre> : null}
        </div>
      ) : null}
      {exported ? (
        <p className="notice" data-testid="export-result">
          {exported}
        </p>
      ) : null}
      {forbidden ? <Forbidden /> : <ErrorLine error={error} />}
      {page ? (
        <AuditTable page={page} onPage={(path) => void fetchPage(path)} />
      ) : (
        <Empty>Search to see the trail.</Empty>
      )}
    </section>
  );
}

function AuditTable({ page, onPage }: { page: Page; onPage: (path: string) => void }) {
  return (
    <>
      <div className="table-wrap">
        <table data-testid="audit-table">
          <thead>
            <tr>
              <th>recorded</th>
              <th>action</th>
              <th>outcome</th>
              <th>agent</th>
              <th>entities</th>
              <th>source</th>
            </tr>
          </thead>
          <tbody>
            {page.events.map((e, i) => (
              <tr
                key={e.id ?? i}
                data-testid="audit-row"
                className={e.outcome && e.outcome !== '0' ? 'attention-row' : ''}
              >
                <td className="nowrap" title={e.recorded}>
                  {formatInstant(e.recorded)}
                </td>
                <td title={ACTIONS[e.action ?? '']}>{e.action ?? '—'}</td>
                <td title={e.outcomeDesc}>
                  {e.outcome ?? '—'}{' '}
                  {e.outcome ? <span className="muted small">{OUTCOMES[e.outcome] ?? ''}</span> : null}
                </td>
                <td className="mono">{agentOf(e)}</td>
                <td className="mono small wrap">{entitiesOf(e)}</td>
                <td>{e.source?.observer?.display ?? e.source?.observer?.reference ?? '—'}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      {page.events.length === 0 ? <Empty>No audit events match.</Empty> : null}
      <div className="pager">
        <span className="muted small">
          {page.events.length} shown{page.total !== undefined ? ` of ${page.total}` : ''}
        </span>
        <button
          type="button"
          data-testid="audit-previous"
          disabled={!page.previous}
          onClick={() => page.previous && onPage(page.previous)}
        >
          ← Previous
        </button>
        <button
          type="button"
          data-testid="audit-next"
          disabled={!page.next}
          onClick={() => page.next && onPage(page.next)}
        >
          Next →
        </button>
      </div>
    </>
  );
}
