import type { Medication } from '@medplum/fhirtypes';
import { RXNORM_SYSTEM } from '../fhir-resources';
import type { MedicationSelector } from '../dispenses/dispense-rules';

/** A drug the pharmacy stocks: its formulary Medication and RxNorm code. */
export interface FormularyEntry {
  medicationId: string;
  /** RxNorm code: the `medicationCode` of every stock event. */
  code: string;
  display?: string;
}

/** The formulary entry a Medication stands for, or undefined when it has no RxNorm code or is inactive. */
export function formularyEntryOf(medication: Medication & { id: string }): FormularyEntry | undefined {
  if (medication.status === 'inactive' || medication.status === 'entered-in-error') return undefined;
  const coding = medication.code?.coding?.find((c) => c.system === RXNORM_SYSTEM && c.code !== undefined);
  if (coding?.code === undefined) return undefined;
  const entry: FormularyEntry = { medicationId: medication.id, code: coding.code };
  if (coding.display !== undefined) entry.display = coding.display;
  return entry;
}

/** Cache key of a selector: codes and Medication ids live in separate namespaces. */
export function selectorKey(selector: MedicationSelector): string {
  return selector.kind === 'code' ? `code:${selector.code}` : `id:${selector.id}`;
}

export interface FormularyCacheOptions {
  /** How long a found drug is trusted without asking the database again. */
  hitTtlMs: number;
  /** How long an unknown drug stays unknown (short: a drug added to the formulary becomes usable quickly). */
  missTtlMs: number;
  /** Entries held at most; the oldest go first. */
  maxEntries: number;
  now?: () => number;
}

interface Cached {
  expires: number;
  value: Promise<FormularyEntry | undefined>;
}

/**
 * The formulary look-up of the dispense path, cached in the process: a dispense of a known drug costs no
 * database round trip, and concurrent look-ups of the same drug share one query. Only a hint: a drug made
 * inactive in the formulary is refused once its entry expires (`hitTtlMs`).
 */
export class FormularyCache {
  private readonly entries = new Map<string, Cached>();
  private readonly now: () => number;

  constructor(
    private readonly load: (selector: MedicationSelector) => Promise<FormularyEntry | undefined>,
    private readonly options: FormularyCacheOptions,
  ) {
    this.now = options.now ?? Date.now;
  }

  lookup(selector: MedicationSelector): Promise<FormularyEntry | undefined> {
    const key = selectorKey(selector);
    const now = this.now();
    const cached = this.entries.get(key);
    if (cached !== undefined && cached.expires > now) return cached.value;
    const value = this.load(selector);
    const entry: Cached = { expires: now + this.options.hitTtlMs, value };
    this.remember(key, entry);
    value.then(
      (found) => {
        if (found === undefined) entry.expires = this.now() + this.options.missTtlMs;
      },
      () => {
        if (this.entries.get(key) === entry) this.entries.delete(key); // a failed look-up is not remembered
      },
    );
    return value;
  }

  /** Forgets everything (after the formulary was re-seeded). */
  clear(): void {
    this.entries.clear();
  }

  private remember(key: string, entry: Cached): void {
    this.entries.delete(key);
    this.entries.set(key, entry);
    if (this.entries.size > this.options.maxEntries) {
      const oldest = this.entries.keys().next();
      if (oldest.done !== true) this.entries.delete(oldest.value);
    }
  }
}
