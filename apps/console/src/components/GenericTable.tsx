import type { ReactNode } from 'react';
import { displayValue, formatInstant } from '../format';

type Row = Record<string, unknown>;

/** The keys of `rows` in first-seen order, `first` ones leading. */
export function columnsOf(rows: Row[], first: string[] = []): string[] {
  const keys = new Set(first.filter((k) => rows.some((r) => k in r)));
  for (const row of rows) for (const key of Object.keys(row)) keys.add(key);
  return [...keys];
}

const INSTANT = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}/;

/** A cell of any JSON value: instants formatted, objects compact, long text cut (whole in the title). */
export function Cell({ value }: { value: unknown }) {
  const text = typeof value === 'string' && INSTANT.test(value) ? formatInstant(value) : displayValue(value);
  const short = text.length > 120 ? `${text.slice(0, 119)}…` : text;
  return <span title={text === short ? undefined : text}>{short}</span>;
}

/** A table of arbitrary records: their keys as columns, plus optional trailing cells per row. */
export function GenericTable({
  rows,
  columns,
  testId,
  rowTestId,
  extraHeader,
  extra,
  rowKey,
}: {
  rows: Row[];
  columns: string[];
  testId?: string;
  rowTestId?: string;
  extraHeader?: string;
  extra?: (row: Row) => ReactNode;
  rowKey?: (row: Row, index: number) => string;
}) {
  return (
    <div className="table-wrap">
      <table data-testid={testId}>
        <thead>
          <tr>
            {columns.map((c) => (
              <th key={c}>{c}</th>
            ))}
            {extra ? <th>{extraHeader ?? ''}</th> : null}
          </tr>
        </thead>
        <tbody>
          {rows.map((row, i) => (
            <tr key={rowKey ? rowKey(row, i) : i} data-testid={rowTestId}>
              {columns.map((c) => (
                <td key={c}>
                  <Cell value={row[c]} />
                </td>
              ))}
              {extra ? <td>{extra(row)}</td> : null}
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}
