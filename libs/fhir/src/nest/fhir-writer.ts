import type { Resource } from '@medplum/fhirtypes';
import type { ParsedTransaction, TransactionResult } from '../bundle/transaction';
import type { SearchRequest } from '../search/search-request';
import type { FhirDeleteResult, FhirWriteResult, Stored } from '../store/fhir-resource-store';

/** What a write receives besides the resource: where it was addressed, and the global transaction. */
export interface FhirWriteContext {
  /** Absolute base URL of this FHIR endpoint (`https://emr.example/fhir`). */
  baseUrl: string;
  /**
   * The client's own reference for the request (`x-correlation-id`, or `x-gtid` as older clients send
   * it): kept beside the transaction and in logs, never used as a transaction's identity — a service
   * mints its gtids itself.
   */
  correlationId?: string;
  /**
   * What the request itself says beyond its body, for a write a client steers per request (a workflow's
   * transaction mode): the first value of a query parameter, and a request header by its lower-case name.
   * Absent for the entries of a batch Bundle, each a request of its own.
   */
  request?: FhirRequestSteering;
  /**
   * Adds a header to the answer: kept when the write then fails (the `x-gtid` of a workflow that was
   * refused). Absent for the entries of a batch Bundle.
   */
  setHeader?: (name: string, value: string) => void;
}

/** The query parameters and headers of a write request (see `FhirWriteContext.request`). */
export interface FhirRequestSteering {
  parameter(name: string): string | undefined;
  header(name: string): string | undefined;
}

export interface FhirUpdateContext extends FhirWriteContext {
  /** Version named by `If-Match` (`W/"3"` → `3`); the writer passes it to `FhirResourceStore.update`. */
  ifMatch?: string;
}

export interface FhirUpdateResult {
  resource: Stored<Resource>;
  /** True when the update created the resource (answered 201 instead of 200). */
  created: boolean;
}

/**
 * The service's write path, supplied by the app to `FhirModule.forRoot({ writer })`. The module
 * validates every body against FHIR R4 (and the transaction Bundle's structure) before calling it;
 * the writer applies its business rules and persists, typically with `FhirResourceStore` inside
 * `Database.transaction` or a distributed-transaction branch, and returns what it stored. A method
 * the writer does not implement is answered 405, as is a type the module options do not open.
 */
export interface FhirWriter {
  create?(resource: Resource, context: FhirWriteContext): Promise<Stored<Resource>>;
  /**
   * A create with `If-None-Exist`: the condition (already parsed) is checked and the resource created in
   * one local transaction, typically `db.transaction((tx) => store.createIfNoneExist(tx, resource,
   * condition))`, so concurrent retries cannot both create. Optional: without it the module checks the
   * condition and then calls `create`, which leaves a window of one round trip between the two.
   */
  createIfNoneExist?(
    resource: Resource,
    condition: SearchRequest,
    context: FhirWriteContext,
  ): Promise<FhirWriteResult<Resource>>;
  /** `resource.id` equals the id of the URL. */
  update?(resource: Resource & { id: string }, context: FhirUpdateContext): Promise<FhirUpdateResult>;
  delete?(resourceType: string, id: string, context: FhirWriteContext): Promise<FhirDeleteResult>;
  /** Entries carry their final ids and rewritten references; results come back in entry order. */
  transaction?(transaction: ParsedTransaction, context: FhirWriteContext): Promise<TransactionResult[]>;
}

/** Injection token of the app's FhirWriter (null when the service is read-only). */
export const FHIR_WRITER = Symbol('FHIR_WRITER');
