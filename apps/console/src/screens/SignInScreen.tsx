import { useState, type FormEvent } from 'react';
import { decodeIdentity } from '../auth';

/** Paste an access token (a JWT from the hospital's issuer, or `npm run token -- --role <role>`). */
export function SignInScreen({ message, onSignIn }: { message?: string; onSignIn: (token: string) => void }) {
  const [token, setToken] = useState('');
  const [problem, setProblem] = useState<string>();

  const submit = (event: FormEvent) => {
    event.preventDefault();
    const trimmed = token.trim().replace(/^Bearer\s+/i, '');
    try {
      decodeIdentity(trimmed);
    } catch (error) {
      setProblem(error instanceof Error ? error.message : String(error));
      return;
    }
    onSignIn(trimmed);
  };

  return (
    <main className="sign-in" data-testid="sign-in">
      <form onSubmit={submit}>
        <h1>Operations console</h1>
        <p className="muted">
          Hospital integration platform: distributed transactions, dead letters, in-doubt resolutions, the ICU
          board and the audit trail.
        </p>
        {message ? (
          <p className="notice error" data-testid="sign-in-message" role="alert">
            {message}
          </p>
        ) : null}
        <label htmlFor="token">Access token (JWT)</label>
        <textarea
          id="token"
          data-testid="token-input"
          rows={6}
          spellCheck={false}
          autoComplete="off"
          placeholder="eyJhbGciOi…"
          value={token}
          onChange={(e) => {
            setToken(e.target.value);
            setProblem(undefined);
          }}
        />
        {problem ? (
          <p className="notice error" data-testid="token-problem">
            {problem}
          </p>
        ) : null}
        <button type="submit" className="primary" data-testid="sign-in-button" disabled={token.trim() === ''}>
          Sign in
        </button>
        <p className="muted small">
          The token stays in this tab only (session storage) and is sent to the platform&apos;s APIs, which
          verify it. A link ending in <code>#token=&lt;jwt&gt;</code> signs in directly.
        </p>
      </form>
    </main>
  );
}
