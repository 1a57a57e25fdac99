// Tables the fault runs with rotating fault kinds (outbox, best-effort) print alike: one row per kind, and
// the findings and notes of the trials that have any.
import { formatTable } from './bench-report';
import type { FaultKindSummary, Finding } from './faults-outbox-plan';

/** What every fault runner's trial records beside its own counts. */
export interface TrialRecord {
  seconds: number;
  /** Milliseconds spent in each phase of the trial (arming, load, restart, settle, check…). */
  phases: Record<string, number>;
  /** What happened besides the fault (informational). */
  notes: string[];
  /** What went wrong with the trial itself (each is also a finding). */
  problems: string[];
  /** Findings first seen in this trial. */
  findings: Finding[];
  violations: number;
  lost: number;
  duplicated: number;
}

/** A trial's record before it runs: no time, phases, notes or findings yet. */
export function freshTrialRecord(): TrialRecord {
  return {
    seconds: 0,
    phases: {},
    notes: [],
    problems: [],
    findings: [],
    violations: 0,
    lost: 0,
    duplicated: 0,
  };
}

/**
 * A deck of trials with each fault kind spread over it: every deal at the middle of its kind's share of
 * the deck, then all sorted by that position, so neighbours differ and a short run still sees every kind.
 */
export function spreadDeck<T>(kinds: readonly (readonly T[])[]): T[] {
  return kinds
    .flatMap((deals) => deals.map((deal, i) => ({ deal, at: (i + 0.5) / deals.length })))
    .sort((a, b) => a.at - b.at)
    .map((d) => d.deal);
}

/** A trial's phase clock: each call records the ms since the previous one (or the start) under `name`. */
export function phaseClock(phases: Record<string, number>): (name: string) => void {
  let phaseStart = Date.now();
  return (name) => {
    phases[name] = Date.now() - phaseStart;
    phaseStart = Date.now();
  };
}

/** The per-fault table: how each kind was injected, its trials, violations, misses and longest trial. */
export function faultKindTable<K extends string>(
  faults: Partial<Record<K, FaultKindSummary>>,
  describe: (fault: K) => string,
): string {
  return formatTable(
    ['fault', 'injected as', 'trials', 'violations', 'not injected', 'longest trial s'],
    (Object.entries(faults) as [K, FaultKindSummary][]).map(([fault, f]) => [
      fault,
      describe(fault),
      String(f.trials),
      String(f.violations),
      String(f.not_injected),
      String(f.seconds_max),
    ]),
  );
}

/** Lines for each trial with findings or notes: its progress line, its notes, its first 20 findings. */
export function findingsAndNotes<T extends { notes: string[]; findings: Finding[] }>(
  trials: readonly T[],
  line: (trial: T) => string,
): string[] {
  const out: string[] = [];
  for (const trial of trials.filter((t) => t.findings.length > 0 || t.notes.length > 0)) {
    out.push(`  ${line(trial)}`);
    for (const note of trial.notes) out.push(`    note: ${note}`);
    for (const f of trial.findings.slice(0, 20)) out.push(`    - ${f.kind}: ${f.message}`);
    if (trial.findings.length > 20) out.push(`    … and ${trial.findings.length - 20} more`);
  }
  return out;
}

/**
 * Closes a trial's findings: its `problems` (and a fault not injected, when it had none) become
 * violations beside the `fresh` findings of its checks; all are recorded in `reported` (so a state that
 * persists is reported once) and counted on the trial.
 */
export function tallyFindings(
  trial: {
    index: number;
    injected: boolean;
    findings: Finding[];
    violations: number;
    lost: number;
    duplicated: number;
  },
  fresh: Finding[],
  problems: readonly string[],
  reported: Map<string, Finding>,
): void {
  for (const [n, problem] of problems.entries())
    fresh.push({ key: `trial:${trial.index}:${n}`, kind: 'violation', message: problem });
  if (!trial.injected && problems.length === 0)
    fresh.push({
      key: `trial:${trial.index}:not-injected`,
      kind: 'violation',
      message: 'the fault was not injected',
    });
  for (const finding of fresh) reported.set(finding.key, finding);
  trial.findings = fresh;
  trial.violations = fresh.length;
  trial.lost = fresh.filter((f) => f.kind === 'lost').length;
  trial.duplicated = fresh.filter((f) => f.kind === 'duplicated').length;
}
