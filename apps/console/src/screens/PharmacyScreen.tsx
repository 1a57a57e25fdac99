import { useMemo, useState } from 'react';
import { ApiError, errorText, getJson, query, servicePath } from '../api';
import { Empty, ErrorLine, Forbidden, Toolbar } from '../components/Status';
import { containsText, formatInstant } from '../format';
import { useLoader } from '../hooks';
import type { Bundle, StockLine } from '../types';

const REFRESH_MS = 5_000;
/** Stock lines asked for at once (the inventory's largest page is 500). */
const PAGE = 500;
/** The formulary: RxNorm code → the drug's name, from the pharmacy's Medication resources. */
const FORMULARY = '/fhir/Medication?_count=200';
const RXNORM = 'http://www.nlm.nih.gov/research/umls/rxnorm';

interface Medication {
  resourceType?: string;
  code?: { text?: string; coding?: { system?: string; code?: string; display?: string }[] };
}

interface Stock {
  lines: StockLine[];
  names: Map<string, string>;
  /** Why the drugs' names could not be read (the codes show without them). */
  namesError?: string;
}

async function loadNames(signal: AbortSignal): Promise<Map<string, string>> {
  const bundle = await getJson<Bundle<Medication>>(FORMULARY, signal);
  const names = new Map<string, string>();
  for (const { resource } of bundle.entry ?? []) {
    const coding = resource?.code?.coding?.find((c) => c.system === RXNORM) ?? resource?.code?.coding?.[0];
    const name = resource?.code?.text ?? coding?.display;
    if (coding?.code && name) names.set(coding.code, name);
  }
  return names;
}

async function load(signal: AbortSignal): Promise<Stock> {
  const [stock, names] = await Promise.all([
    getJson<{ items: StockLine[] }>(
      servicePath('pharmacy-inventory', `inventory${query({ limit: PAGE })}`),
      signal,
    ),
    loadNames(signal).then(
      (found) => ({ found }),
      (error: unknown) => ({ found: new Map<string, string>(), error: errorText(error) }),
    ),
  ]);
  return {
    lines: stock.items ?? [],
    names: names.found,
    ...('error' in names ? { namesError: names.error } : {}),
  };
}

/** Low: at or under the reorder point; out: nothing (or less) on hand. */
function levelOf(line: StockLine): 'out' | 'low' | 'ok' {
  if (line.onHand <= 0) return 'out';
  return line.onHand <= line.reorderPoint ? 'low' : 'ok';
}

/**
 * The pharmacy's stock per drug and location, with open reorders: the lines out of stock first, then those at
 * or under their reorder point, each group with the lines that moved last on top.
 */
export function PharmacyScreen() {
  const loaded = useLoader(load, 'pharmacy', REFRESH_MS);
  const [text, setText] = useState('');
  const [lowOnly, setLowOnly] = useState(false);
  const forbidden = loaded.error instanceof ApiError && loaded.error.forbidden;
  const stock = loaded.data;

  const rows = useMemo(() => {
    const needle = text.trim().toLowerCase();
    const order = { out: 0, low: 1, ok: 2 };
    return (stock?.lines ?? [])
      .map((line) => ({ ...line, name: stock?.names.get(line.medicationCode), level: levelOf(line) }))
      .filter((line) => (!lowOnly || line.level !== 'ok') && containsText(line, needle))
      .sort(
        (a, b) =>
          order[a.level] - order[b.level] ||
          Date.parse(b.updatedAt) - Date.parse(a.updatedAt) ||
          a.locationId.localeCompare(b.locationId) ||
          a.medicationCode.localeCompare(b.medicationCode),
      );
  }, [stock, text, lowOnly]);
  const reorders = rows.filter((line) => line.openReorder).length;

  return (
    <section data-testid="pharmacy">
      <Toolbar title="Pharmacy stock" loading={loaded.loading} at={loaded.at}>
        <label>
          drug or location{' '}
          <input
            data-testid="stock-filter"
            value={text}
            placeholder="e.g. amlodipine, ward-3a"
            onChange={(e) => setText(e.target.value)}
          />
        </label>
        <label>
          <input
            type="checkbox"
            data-testid="stock-low-only"
            checked={lowOnly}
            onChange={(e) => setLowOnly(e.target.checked)}
          />{' '}
          at or under the reorder point
        </label>
        <span className="muted small">refreshes every 5 s</span>
      </Toolbar>
      {forbidden ? <Forbidden /> : <ErrorLine error={loaded.error} />}
      {stock?.namesError ? (
        <p className="warnings small" data-testid="names-error">
          Drug names: {stock.namesError}
        </p>
      ) : null}
      {stock ? (
        <p className="muted small" data-testid="stock-summary">
          {rows.length} of {stock.lines.length} stock lines; {reorders} with a reorder open
        </p>
      ) : null}
      {stock && rows.length === 0 ? <Empty>No stock lines.</Empty> : null}
      {rows.length > 0 ? (
        <div className="table-wrap">
          <table data-testid="stock-table">
            <thead>
              <tr>
                <th>drug</th>
                <th>location</th>
                <th>on hand</th>
                <th>reorder point</th>
                <th>reorder</th>
                <th>updated</th>
              </tr>
            </thead>
            <tbody>
              {rows.map((line) => (
                <tr
                  key={`${line.medicationCode}@${line.locationId}`}
                  data-testid="stock-row"
                  data-level={line.level}
                  className={line.level === 'ok' ? undefined : `stock-${line.level}`}
                >
                  <td>
                    {line.name ?? line.medicationCode}
                    {line.name ? <span className="muted small mono"> {line.medicationCode}</span> : null}
                  </td>
                  <td className="mono">{line.locationId}</td>
                  <td data-testid="stock-on-hand">
                    <strong>{line.onHand}</strong>
                    {line.level === 'ok' ? null : (
                      <span className={`tag stock-tag-${line.level}`}>{line.level}</span>
                    )}
                  </td>
                  <td>{line.reorderPoint}</td>
                  <td data-testid="stock-reorder">
                    {line.openReorder
                      ? `${line.openReorder.quantity} ordered ${formatInstant(line.openReorder.openedAt)}`
                      : ''}
                  </td>
                  <td className="small">{formatInstant(line.updatedAt)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      ) : null}
    </section>
  );
}
