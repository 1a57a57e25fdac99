import type { ReactNode } from 'react';
import { FORBIDDEN_TEXT, errorText, type ServiceWarning } from '../api';
import { formatInstant } from '../format';

/** The panel's answer when the caller's role may not see it (a 403), instead of its content. */
export function Forbidden() {
  return (
    <p className="notice forbidden" data-testid="forbidden">
      {FORBIDDEN_TEXT}
    </p>
  );
}

export function ErrorLine({ error }: { error: unknown }) {
  if (error === undefined) return null;
  return (
    <p className="notice error" data-testid="error" role="alert">
      {errorText(error)}
    </p>
  );
}

/** One small line per service that failed (not those without the route). */
export function Warnings({ warnings }: { warnings: ServiceWarning[] }) {
  if (warnings.length === 0) return null;
  return (
    <ul className="warnings" data-testid="service-warnings">
      {warnings.map((w) => (
        <li key={w.service}>
          <strong>{w.service}</strong>: {w.message}
        </li>
      ))}
    </ul>
  );
}

/** A screen's title row: heading, when the data arrived, and its controls. */
export function Toolbar({
  title,
  loading,
  at,
  children,
}: {
  title: string;
  loading?: boolean;
  at?: Date;
  children?: ReactNode;
}) {
  return (
    <div className="toolbar">
      <h2>{title}</h2>
      <span className="muted small" aria-live="polite">
        {loading ? 'loading…' : at ? `as of ${formatInstant(at.toISOString()).slice(11)}` : ''}
      </span>
      <div className="controls">{children}</div>
    </div>
  );
}

export function Empty({ children }: { children: ReactNode }) {
  return <p className="muted empty">{children}</p>;
}
