import type { InjectionToken, ModuleMetadata, Type } from '@nestjs/common';
import type { FhirWriteInteraction } from '../capability/capability-statement';
import type { SearchDeclaration } from '../search/search-parameter-registry';
import type { FhirWriter } from './fhir-writer';

export interface FhirModuleOptions {
  /** Short service name (emr, lis…), shown in the CapabilityStatement. */
  serviceName: string;
  /**
   * Resource types the service serves at `/fhir/:type` and the search parameters of each, by their
   * R4 codes. Every listed type is readable, versioned-readable, has history and is searchable.
   */
  resources: SearchDeclaration;
  /** Write interactions per type, served through the writer. Types not listed are read-only. */
  writes?: Readonly<Record<string, readonly FhirWriteInteraction[]>>;
  /** Whether `POST /fhir` accepts transaction Bundles (needs `writer.transaction`). */
  transaction?: boolean;
  /**
   * Whether `POST /fhir` accepts batch Bundles: each entry runs as its own create or update through the
   * writer (only where `writes` offers that interaction on the type), answered entry by entry in a
   * `batch-response`.
   */
  batch?: boolean;
  /**
   * Whether a batch Bundle's entries run all at once instead of one after another (R4 lets a server take
   * them in any order: they may not depend on one another). For a writer that gathers concurrent writes
   * into shared transactions (group commit), so that one Bundle is written by one transaction.
   */
  concurrentBatchEntries?: boolean;
  /**
   * The write path: a class (registered in the FHIR module, so it can inject `FhirResourceStore`,
   * `FhirValidator`, `SearchParameterRegistry` and global providers such as `Database`), or an
   * existing provider exported by one of `imports`.
   */
  writer?: Type<FhirWriter> | { useExisting: InjectionToken };
  /** Modules the writer's own dependencies come from. */
  imports?: ModuleMetadata['imports'];
  /**
   * Public base URL of the FHIR endpoint (e.g. behind the gateway). Defaults to the request's
   * protocol and Host header followed by `/fhir`.
   */
  baseUrl?: string;
}

export const FHIR_MODULE_OPTIONS = Symbol('FHIR_MODULE_OPTIONS');
