import { Inject, Injectable } from '@nestjs/common';
import type { Medication } from '@medplum/fhirtypes';
import { FhirErrorCode, FhirException, FhirResourceStore, SearchParameterRegistry } from '@hospital/fhir';
import { Database } from '@hospital/platform';
import { RXNORM_SYSTEM } from '../fhir-resources';
import type { MedicationSelector } from '../dispenses/dispense-rules';
import { FormularyCache, formularyEntryOf, type FormularyEntry } from './formulary';

/**
 * The formulary: the Medication resources of the FHIR store, read through a per-process cache. A drug is
 * found by its RxNorm code (the `code` search parameter) or by its Medication id.
 */
@Injectable()
export class FormularyService {
  private readonly cache = new FormularyCache((selector) => this.load(selector), {
    hitTtlMs: 60_000,
    missTtlMs: 2_000,
    maxEntries: 10_000,
  });

  constructor(
    @Inject(Database) private readonly db: Database,
    @Inject(FhirResourceStore) private readonly store: FhirResourceStore,
    @Inject(SearchParameterRegistry) private readonly registry: SearchParameterRegistry,
  ) {}

  /** The active formulary entry a dispense names, or undefined. */
  find(selector: MedicationSelector): Promise<FormularyEntry | undefined> {
    return this.cache.lookup(selector);
  }

  private async load(selector: MedicationSelector): Promise<FormularyEntry | undefined> {
    if (selector.kind === 'reference') {
      try {
        const medication = await this.store.read<Medication>(this.db, 'Medication', selector.id);
        return formularyEntryOf(medication);
      } catch (error) {
        if (
          error instanceof FhirException &&
          (error.code === FhirErrorCode.NotFound || error.code === FhirErrorCode.Gone)
        ) {
          return undefined;
        }
        throw error;
      }
    }
    const request = this.registry.parseSearch(
      'Medication',
      new URLSearchParams({ code: `${RXNORM_SYSTEM}|${selector.code}`, _count: '10', _total: 'none' }),
    );
    const { resources } = await this.store.search<Medication>(this.db, request);
    for (const medication of resources) {
      const entry = formularyEntryOf(medication);
      if (entry !== undefined) return entry;
    }
    return undefined;
  }
}
