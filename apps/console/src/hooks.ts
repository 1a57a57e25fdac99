// Small hooks: the hash route, and a loader that can poll.
import { useCallback, useEffect, useLayoutEffect, useRef, useState, useSyncExternalStore } from 'react';

function subscribeHash(onChange: () => void): () => void {
  window.addEventListener('hashchange', onChange);
  return () => window.removeEventListener('hashchange', onChange);
}

export interface Route {
  /** The path segments after `#/`, decoded: `#/transactions/emr/g-1` → ['transactions', 'emr', 'g-1']. */
  segments: string[];
  /** The query after `?` in the hash: `#/transactions?q=g-1`. */
  params: URLSearchParams;
}

export function parseRoute(hash: string): Route {
  const [path, search = ''] = hash.replace(/^#\/?/, '').split('?', 2);
  const segments = path
    .split('/')
    .filter((s) => s !== '')
    .map((s) => {
      try {
        return decodeURIComponent(s);
      } catch {
        return s;
      }
    });
  return { segments, params: new URLSearchParams(search) };
}

/** The current hash route; re-renders on every change of the fragment. */
export function useHashRoute(): Route {
  const hash = useSyncExternalStore(subscribeHash, () => window.location.hash);
  return parseRoute(hash);
}

/** `#/a/b` with each segment encoded. */
export function href(...segments: string[]): string {
  return `#/${segments.map(encodeURIComponent).join('/')}`;
}

export interface Loaded<T> {
  data?: T;
  error?: unknown;
  loading: boolean;
  /** When the data last arrived. */
  at?: Date;
  reload: () => void;
}

/**
 * Runs `load` when `key` changes and on `reload()`, and again `refreshMs` after each answer while
 * `refreshMs` is set. A new run aborts the one in flight; stale answers are dropped; the last data stays
 * on screen while the next request runs.
 */
export function useLoader<T>(
  load: (signal: AbortSignal) => Promise<T>,
  key: string,
  refreshMs?: number,
): Loaded<T> {
  const [state, setState] = useState<Omit<Loaded<T>, 'reload'> & { key?: string }>({ loading: true });
  const [generation, setGeneration] = useState(0);
  const loadRef = useRef(load);
  useLayoutEffect(() => {
    loadRef.current = load;
  });

  useEffect(() => {
    const controller = new AbortController();
    let timer: ReturnType<typeof setTimeout> | undefined;
    const run = async (): Promise<void> => {
      // Data of another key (other filters, another record) is not shown while the new one loads.
      setState((s) => (s.key === key ? { ...s, loading: true } : { key, loading: true }));
      try {
        const data = await loadRef.current(controller.signal);
        if (controller.signal.aborted) return;
        setState({ key, data, loading: false, at: new Date() });
      } catch (error) {
        if (controller.signal.aborted) return;
        setState((s) => ({ key, data: s.data, error, loading: false, at: s.at }));
      }
      if (refreshMs !== undefined && !controller.signal.aborted)
        timer = setTimeout(() => void run(), refreshMs);
    };
    void run();
    return () => {
      controller.abort();
      clearTimeout(timer);
    };
  }, [key, refreshMs, generation]);

  const reload = useCallback(() => setGeneration((g) => g + 1), []);
  const { data, error, loading, at } = state;
  return { data, error, loading, at, reload };
}
