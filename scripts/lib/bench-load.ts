// A closed-loop load generator: `concurrency` workers each run one operation after another until the
// duration is over; an operation in flight at the deadline is finished and counted. An operation succeeds,
// fails (an error), or is refused as the scenario expects (a taken slot): refusals are counted apart.
import { Latencies, LoadProgress } from './bench-report';

export type { LoadProgress } from './bench-report';

export interface Outcome {
  ok: boolean;
  /** Not ok, but an answer the scenario expects (a 409 for a slot taken meanwhile): not an error. */
  refused?: boolean;
  /** Why it failed (kept for the first few failures). */
  error?: string;
}

export interface LoadResult {
  completed: number;
  errors: number;
  /** Operations refused as expected (Outcome.refused), neither completed nor errors. */
  refused: number;
  /** Latency of every successful operation, ms. */
  latencies: Latencies;
  /** From the start until the last worker stopped, ms. */
  elapsedMs: number;
  errorSamples: string[];
}

export interface LoadOptions {
  concurrency: number;
  durationMs: number;
  /** One operation of worker `worker`; must not reject (a rejection counts as an error). */
  operation: (worker: number) => Promise<Outcome>;
  /** Called about four times a second. */
  onProgress?: (progress: LoadProgress) => void;
  /** Workers stop before the duration is over once this answers true (a run of a fixed number of operations). */
  done?: () => boolean;
}

export async function runLoad(options: LoadOptions): Promise<LoadResult> {
  const latencies = new Latencies();
  const errorSamples: string[] = [];
  let completed = 0;
  let errors = 0;
  let refused = 0;
  const started = performance.now();
  const deadline = started + options.durationMs;
  const progress = (): void =>
    options.onProgress?.({ elapsedMs: performance.now() - started, completed, errors });
  const timer = setInterval(progress, 250);

  const worker = async (index: number): Promise<void> => {
    while (performance.now() < deadline && !options.done?.()) {
      const t0 = performance.now();
      let outcome: Outcome;
      try {
        outcome = await options.operation(index);
      } catch (error) {
        outcome = { ok: false, error: error instanceof Error ? error.message : String(error) };
      }
      if (outcome.ok) {
        completed += 1;
        latencies.add(performance.now() - t0);
      } else if (outcome.refused) {
        refused += 1;
      } else {
        errors += 1;
        if (errorSamples.length < 5 && outcome.error) errorSamples.push(outcome.error);
      }
    }
  };
  try {
    await Promise.all(Array.from({ length: options.concurrency }, (_, i) => worker(i)));
  } finally {
    clearInterval(timer);
  }
  progress();
  return { completed, errors, refused, latencies, elapsedMs: performance.now() - started, errorSamples };
}
