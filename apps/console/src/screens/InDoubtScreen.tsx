import { useState, type FormEvent } from 'react';
import { errorText, fanOut, postJson, servicePath, type FanOut } from '../api';
import { columnsOf, GenericTable } from '../components/GenericTable';
import { Empty, ErrorLine, Forbidden, Toolbar, Warnings } from '../components/Status';
import { displayValue } from '../format';
import { useLoader } from '../hooks';

type Row = Record<string, unknown>;

/** The list a service answers: an array, or an object holding one (`{ transactions: [...] }`). */
function listOf(value: unknown): Row[] {
  if (Array.isArray(value)) return value as Row[];
  if (typeof value === 'object' && value !== null) {
    const inner = Object.values(value).find(Array.isArray);
    if (inner) return inner as Row[];
  }
  return [];
}

function rowsOf(out: FanOut<unknown>): Row[] {
  return out.results.flatMap(({ service, value }) => listOf(value).map((row) => ({ service, ...row })));
}

/** What is in doubt in each service (coordinators' unfinished, participants' prepared), with a resolve form. */
export function InDoubtScreen({ operator }: { operator: string }) {
  const loaded = useLoader((signal) => fanOut<unknown>('transactions/in-doubt', signal), 'in-doubt', 5_000);
  const [result, setResult] = useState<Result>();
  const rows = loaded.data ? rowsOf(loaded.data) : [];
  const columns = columnsOf(rows, ['service', 'gtid', 'role', 'coordinator', 'state', 'since', 'ageSeconds']);

  return (
    <section data-testid="in-doubt">
      <Toolbar title="In doubt" loading={loaded.loading} at={loaded.at}>
        <button type="button" onClick={loaded.reload}>
          Refresh
        </button>
      </Toolbar>
      <ErrorLine error={loaded.error} />
      {result ? (
        <p className={`notice ${result.failed ? 'error' : 'success'}`} data-testid="resolve-result">
          {result.text}
        </p>
      ) : null}
      {loaded.data?.forbidden ? (
        <Forbidden />
      ) : (
        <>
          <Warnings warnings={loaded.data?.warnings ?? []} />
          {rows.length > 0 ? (
            <GenericTable
              testId="in-doubt-table"
              rowTestId="in-doubt-row"
              rows={rows}
              columns={columns}
              extraHeader="resolve"
              rowKey={(row) =>
                ['service', 'gtid', 'role', 'coordinator'].map((k) => displayValue(row[k])).join('/')
              }
              extra={(row) => (
                <ResolveForm
                  row={row}
                  operator={operator}
                  onResult={(r) => {
                    setResult(r);
                    if (!r.failed) loaded.reload();
                  }}
                />
              )}
            />
          ) : loaded.data ? (
            <Empty>Nothing is in doubt.</Empty>
          ) : null}
        </>
      )}
    </section>
  );
}

interface Result {
  text: string;
  failed: boolean;
}

/** Decision and reason for one transaction; the operator is the signed-in user. */
function ResolveForm({
  row,
  operator,
  onResult,
}: {
  row: Row;
  operator: string;
  onResult: (result: Result) => void;
}) {
  const gtid = displayValue(row.gtid);
  const service = displayValue(row.service);
  const [decision, setDecision] = useState<'commit' | 'abort'>('abort');
  const [reason, setReason] = useState('');
  const [busy, setBusy] = useState(false);

  const submit = async (event: FormEvent) => {
    event.preventDefault();
    setBusy(true);
    try {
      const body: Record<string, string> = { decision, reason: reason.trim(), operator };
      // A participant's branch names its coordinator, in case branches of several share the gtid.
      if (row.role === 'participant' && typeof row.coordinator === 'string')
        body.coordinator = row.coordinator;
      const answer = await postJson<Record<string, unknown>>(
        servicePath(service, `transactions/in-doubt/${encodeURIComponent(gtid)}/resolve`),
        body,
      );
      const applied = displayValue(answer?.decision ?? decision);
      const heuristic = answer?.heuristic === true ? ' (heuristic)' : '';
      const detail = typeof answer?.detail === 'string' ? `: ${answer.detail}` : '';
      const outcome = displayValue(answer?.outcome ?? 'done');
      onResult({ text: `${gtid} (${service}): ${applied}${heuristic}, ${outcome}${detail}`, failed: false });
      setReason('');
    } catch (error) {
      onResult({ text: `${gtid} (${service}): ${errorText(error)}`, failed: true });
    } finally {
      setBusy(false);
    }
  };

  return (
    <form className="inline-form" data-testid={`resolve-${gtid}`} onSubmit={(e) => void submit(e)}>
      <select
        aria-label="decision"
        data-testid="resolve-decision"
        value={decision}
        onChange={(e) => setDecision(e.target.value === 'commit' ? 'commit' : 'abort')}
      >
        <option value="abort">abort</option>
        <option value="commit">commit</option>
      </select>
      <input
        aria-label="reason"
        data-testid="resolve-reason"
        placeholder="reason (ticket, what was checked)"
        required
        maxLength={500}
        value={reason}
        onChange={(e) => setReason(e.target.value)}
      />
      <button type="submit" data-testid="resolve-submit" disabled={busy || reason.trim() === ''}>
        {busy ? 'resolving…' : 'Resolve'}
      </button>
    </form>
  );
}
