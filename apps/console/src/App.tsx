import { useCallback, useEffect, useRef, useState } from 'react';
import { setUnauthorizedHandler } from './api';
import {
  adoptTokenFromFragment,
  clearToken,
  decodeIdentity,
  describeIdentity,
  readToken,
  storeToken,
  type Identity,
} from './auth';
import { href, useHashRoute } from './hooks';
import { AuditScreen } from './screens/AuditScreen';
import { DeadLettersScreen } from './screens/DeadLettersScreen';
import { IcuScreen } from './screens/IcuScreen';
import { InDoubtScreen } from './screens/InDoubtScreen';
import { PharmacyScreen } from './screens/PharmacyScreen';
import { SignInScreen } from './screens/SignInScreen';
import { TimelineScreen } from './screens/TimelineScreen';
import { TransactionsScreen } from './screens/TransactionsScreen';

const TABS = [
  { name: 'transactions', label: 'Transactions', roles: 'administrator' },
  { name: 'dead-letters', label: 'Dead letters', roles: 'administrator' },
  { name: 'in-doubt', label: 'In doubt', roles: 'administrator' },
  { name: 'icu', label: 'ICU board', roles: 'clinician, nurse' },
  { name: 'pharmacy', label: 'Pharmacy stock', roles: 'pharmacist, clinician, nurse, administrator' },
  { name: 'audit', label: 'Audit', roles: 'auditor' },
] as const;

/** The longest delay setTimeout takes (about 24.8 days); a token living longer is not timed. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/** Where a role starts when the address names no screen. */
function homeOf(role: string): string {
  if (role === 'clinician' || role === 'nurse') return 'icu';
  if (role === 'auditor') return 'audit';
  if (role === 'pharmacist') return 'pharmacy';
  return 'transactions';
}

interface Session {
  token: string;
  identity: Identity;
}

function sessionOf(token: string | null): Session | undefined {
  if (!token) return undefined;
  try {
    return { token, identity: decodeIdentity(token) };
  } catch {
    return undefined;
  }
}

export function App() {
  const [session, setSession] = useState(() => sessionOf(readToken()));
  const [message, setMessage] = useState<string>();
  const route = useHashRoute();

  const signOut = useCallback((why?: string) => {
    clearToken();
    setSession(undefined);
    setMessage(why);
  }, []);

  // The first 401 signs out with its message; the calls still in flight then fail too, and are ignored.
  const signedIn = useRef(session !== undefined);
  useEffect(() => {
    signedIn.current = session !== undefined;
  }, [session]);
  useEffect(() => {
    setUnauthorizedHandler((text) => {
      if (!signedIn.current) return;
      signedIn.current = false;
      signOut(`Signed out: ${text}`);
    });
  }, [signOut]);

  // A `#token=<jwt>` link opened in this tab while the console is already loaded (main.tsx takes the
  // one present at load).
  useEffect(() => {
    const adopt = () => {
      if (!adoptTokenFromFragment()) return;
      setMessage(undefined);
      setSession(sessionOf(readToken()));
    };
    window.addEventListener('hashchange', adopt);
    return () => window.removeEventListener('hashchange', adopt);
  }, []);

  // A token past its expiry signs out at that moment rather than at the next failing call.
  useEffect(() => {
    const expiresAt = session?.identity.expiresAt;
    if (expiresAt === undefined) return;
    const delay = Math.max(0, expiresAt - Date.now());
    if (delay > MAX_TIMER_MS) return;
    const timer = setTimeout(() => signOut('Your token expired; sign in with a new one.'), delay);
    return () => clearTimeout(timer);
  }, [session, signOut]);

  if (!session) {
    return (
      <SignInScreen
        message={message}
        onSignIn={(token) => {
          storeToken(token);
          setMessage(undefined);
          setSession(sessionOf(token));
        }}
      />
    );
  }

  const [screen = homeOf(session.identity.role), ...rest] = route.segments;
  return (
    <div className="app">
      <header className="top">
        <h1>
          <a href={href(homeOf(session.identity.role))}>Operations console</a>
        </h1>
        <nav>
          {TABS.map((tab) => (
            <a
              key={tab.name}
              href={href(tab.name)}
              data-testid={`nav-${tab.name}`}
              className={screen === tab.name ? 'active' : undefined}
              aria-current={screen === tab.name ? 'page' : undefined}
              title={`for ${tab.roles}`}
            >
              {tab.label}
            </a>
          ))}
        </nav>
        <span className="who" data-testid="who">
          {describeIdentity(session.identity)}
        </span>
        <button type="button" data-testid="sign-out" onClick={() => signOut()}>
          Sign out
        </button>
      </header>
      <main>
        <Screen screen={screen} rest={rest} params={route.params} operator={session.identity.subject} />
      </main>
    </div>
  );
}

function Screen({
  screen,
  rest,
  params,
  operator,
}: {
  screen: string;
  rest: string[];
  params: URLSearchParams;
  operator: string;
}) {
  switch (screen) {
    case 'transactions':
      if (rest.length >= 2)
        return <TimelineScreen key={rest.join('/')} service={rest[0]} gtid={rest.slice(1).join('/')} />;
      return <TransactionsScreen key={params.get('q') ?? ''} initialText={params.get('q') ?? ''} />;
    case 'dead-letters':
      return <DeadLettersScreen />;
    case 'in-doubt':
      return <InDoubtScreen operator={operator} />;
    case 'icu':
      return <IcuScreen />;
    case 'pharmacy':
      return <PharmacyScreen />;
    case 'audit':
      return <AuditScreen />;
    default:
      return (
        <p className="notice" data-testid="not-found">
          No screen here. <a href={href('transactions')}>Transactions</a>
        </p>
      );
  }
}
