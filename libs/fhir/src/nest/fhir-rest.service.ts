import { Inject, Injectable, Logger, Optional } from '@nestjs/common';
import type { OperationOutcomeIssue, Resource } from '@medplum/fhirtypes';
import { Database } from '@hospital/platform';
import { batchResponseBundle, isBatchBundle, parseBatchBundle, type BatchEntryResult } from '../bundle/batch';
import { historyBundle } from '../bundle/history';
import { searchSetBundle } from '../bundle/searchset';
import { parseTransactionBundle, transactionResponseBundle } from '../bundle/transaction';
import {
  READ_INTERACTIONS,
  buildCapabilityStatement,
  type FhirInteractions,
  type FhirTypeInteraction,
  type FhirWriteInteraction,
} from '../capability/capability-statement';
import { parseIfMatch, weakETag } from '../etag';
import { FhirErrorCode } from '../errors/fhir-error-code';
import { FhirException, informationOutcome, operationOutcome } from '../errors/fhir-exception';
import { toFhirErrorResponse } from '../errors/fhir-exception.filter';
import {
  DEFAULT_PAGE_SIZE,
  MAX_OFFSET,
  MAX_PAGE_SIZE,
  SearchParameterRegistry,
} from '../search/search-parameter-registry';
import { subsetResource } from '../search/subsetting';
import type { SearchRequest } from '../search/search-request';
import { FhirResourceStore, type FhirWriteResult, type Stored } from '../store/fhir-resource-store';
import { FhirValidator } from '../validation/fhir-validator';
import { requestBaseUrl } from './forwarded-base';
import { FHIR_MODULE_OPTIONS, type FhirModuleOptions } from './fhir-module-options';
import { FHIR_WRITER, type FhirWriteContext, type FhirWriter } from './fhir-writer';
import type { FhirHttpRequest, FhirHttpResponse } from './http-types';
import { parsePrefer, type FhirPreferences } from './prefer';

/** A FHIR answer before it is sent: status, headers and a resource body (none for `return=minimal`). */
export interface FhirHttpResult {
  status: number;
  headers: Record<string, string>;
  body: Resource | undefined;
}

/** A client's correlation id: short and plain, safe in a log line, a column and a URL. */
const CORRELATION_ID = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$/;

const FHIR_JSON = 'application/fhir+json';
const ACCEPTED_MEDIA_TYPES = [FHIR_JSON, 'application/json'];

function header(request: FhirHttpRequest, name: string): string | undefined {
  const value = request.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

/** The first value of a query parameter as Express parsed it (a string, or an array of them). */
function queryParameter(query: unknown, name: string): string | undefined {
  if (query === null || typeof query !== 'object') return undefined;
  const value = (query as Record<string, unknown>)[name];
  const first = Array.isArray(value) ? (value as unknown[])[0] : value;
  return typeof first === 'string' ? first : undefined;
}

/** ETag, Last-Modified and (for writes) Location of a stored version. */
function versionHeaders(
  baseUrl: string,
  resource: Stored<Resource>,
  withLocation: boolean,
): Record<string, string> {
  const headers: Record<string, string> = {
    ETag: weakETag(resource.meta.versionId),
    'Last-Modified': new Date(resource.meta.lastUpdated).toUTCString(),
  };
  if (withLocation) {
    headers.Location = `${baseUrl}/${resource.resourceType}/${resource.id}/_history/${resource.meta.versionId}`;
  }
  return headers;
}

/**
 * The FHIR REST interactions behind the controller: type and interaction checks, body media type
 * and validation, reads and searches from the store on the app's Database, writes through the
 * app's FhirWriter, and the mapping of every answer to status, headers and body.
 */
@Injectable()
export class FhirRestService {
  private readonly interactions: FhirInteractions;
  private readonly logger = new Logger('FhirRestService');

  constructor(
    @Inject(FHIR_MODULE_OPTIONS) private readonly options: FhirModuleOptions,
    @Inject(SearchParameterRegistry) private readonly registry: SearchParameterRegistry,
    @Inject(FhirValidator) private readonly validator: FhirValidator,
    @Inject(FhirResourceStore) private readonly store: FhirResourceStore,
    @Inject(Database) private readonly database: Database,
    @Optional() @Inject(FHIR_WRITER) private readonly writer: FhirWriter | null,
  ) {
    this.interactions = {
      types: Object.fromEntries(
        registry.resourceTypes().map((type) => [type, [...READ_INTERACTIONS, ...this.writesOf(type)]]),
      ),
      transaction: options.transaction === true && typeof this.writer?.transaction === 'function',
      batch: options.batch === true && this.writer !== null && this.writer !== undefined,
    };
  }

  private writesOf(type: string): FhirWriteInteraction[] {
    return (this.options.writes?.[type] ?? []).filter((code) => typeof this.writer?.[code] === 'function');
  }

  /**
   * The base URL and the global transaction a request belongs to; for a write (`response` given), also the
   * request's parameters and headers and a way to add headers to the answer.
   */
  context(request: FhirHttpRequest, response?: FhirHttpResponse): FhirWriteContext {
    const baseUrl = (this.options.baseUrl ?? requestBaseUrl(request)).replace(/\/+$/, '');
    const context: FhirWriteContext = { baseUrl };
    if (response !== undefined) {
      context.request = {
        parameter: (name) => queryParameter(request.query, name),
        header: (name) => header(request, name),
      };
      context.setHeader = (name, value) => {
        response.setHeader(name, value);
      };
    }
    const correlationId = header(request, 'x-correlation-id') ?? header(request, 'x-gtid');
    if (correlationId === undefined || correlationId === '') return context;
    if (!CORRELATION_ID.test(correlationId)) {
      throw new FhirException(
        FhirErrorCode.Invalid,
        'x-correlation-id (or x-gtid) must be 1–64 letters, digits or . _ : -',
      );
    }
    return { ...context, correlationId };
  }

  metadata(context: FhirWriteContext): FhirHttpResult {
    const body = buildCapabilityStatement({
      serviceName: this.options.serviceName,
      baseUrl: context.baseUrl,
      registry: this.registry,
      interactions: this.interactions,
    });
    return { status: 200, headers: {}, body };
  }

  /** The `Prefer` header of a request (see `parsePrefer`). */
  preferences(request: FhirHttpRequest): FhirPreferences {
    return parsePrefer(request.headers.prefer);
  }

  /**
   * A type-level search. Unknown parameters (and `_include`s this service cannot follow) are left out and
   * named in the Bundle's outcome entry, or refused with 400 under `Prefer: handling=strict`.
   */
  async search(
    type: string,
    query: unknown,
    context: FhirWriteContext,
    preferences: FhirPreferences = {},
  ): Promise<FhirHttpResult> {
    this.assertInteraction(type, 'search-type');
    const request = this.registry.parseSearch(type, query, { handling: preferences.handling ?? 'lenient' });
    const result = await this.store.search(this.database, request);
    const issues: OperationOutcomeIssue[] = (request.ignored ?? []).map(
      (name) =>
        operationOutcome({
          severity: 'warning',
          code: 'not-supported',
          diagnostics: `Unknown search parameter ignored: ${name}`,
          expression: [name],
        }).issue[0],
    );
    let included: Resource[] | undefined;
    if ((request.include?.length ?? 0) + (request.revinclude?.length ?? 0) > 0) {
      const found = await this.store.searchIncludes(this.database, request, result.resources);
      included = found.resources;
      if (found.truncated) {
        issues.push(
          operationOutcome({
            severity: 'warning',
            code: 'too-costly',
            diagnostics: 'Only part of the resources _include and _revinclude asked for are in this page',
          }).issue[0],
        );
      }
    }
    const body = searchSetBundle({
      baseUrl: context.baseUrl,
      request,
      ...result,
      resources: result.resources.map((resource) => subsetResource(resource, request)),
      ...(included === undefined ? {} : { included }),
      ...(issues.length === 0 ? {} : { outcome: { resourceType: 'OperationOutcome', issue: issues } }),
    });
    return { status: 200, headers: {}, body };
  }

  /** `POST [type]/_search`: the query string's parameters plus those of a form body, if any. */
  async searchByPost(
    type: string,
    query: unknown,
    body: unknown,
    context: FhirWriteContext,
    preferences: FhirPreferences = {},
  ): Promise<FhirHttpResult> {
    const merged = new URLSearchParams();
    for (const source of [query, body]) {
      if (source === undefined || source === null || typeof source !== 'object') continue;
      for (const [name, value] of Object.entries(source as Record<string, unknown>)) {
        for (const v of Array.isArray(value) ? (value as unknown[]) : [value]) {
          if (typeof v !== 'string') {
            throw new FhirException(FhirErrorCode.Invalid, `Invalid value for search parameter ${name}`, {
              expression: [name],
            });
          }
          merged.append(name, v);
        }
      }
    }
    return this.search(type, merged, context, preferences);
  }

  async read(type: string, id: string, context: FhirWriteContext): Promise<FhirHttpResult> {
    this.assertInteraction(type, 'read');
    const resource = await this.store.read(this.database, type, id);
    return { status: 200, headers: versionHeaders(context.baseUrl, resource, false), body: resource };
  }

  async vread(
    type: string,
    id: string,
    versionId: string,
    context: FhirWriteContext,
  ): Promise<FhirHttpResult> {
    this.assertInteraction(type, 'vread');
    const resource = await this.store.vread(this.database, type, id, versionId);
    return { status: 200, headers: versionHeaders(context.baseUrl, resource, false), body: resource };
  }

  async history(
    type: string,
    id: string,
    query: unknown,
    context: FhirWriteContext,
  ): Promise<FhirHttpResult> {
    this.assertInteraction(type, 'history-instance');
    const { count, offset } = pagingOf(query);
    const page = await this.store.history(this.database, type, id, { count, offset });
    const body = historyBundle({ baseUrl: context.baseUrl, resourceType: type, id, page, count, offset });
    return { status: 200, headers: {}, body };
  }

  async create(
    type: string,
    contentType: string | undefined,
    body: unknown,
    context: FhirWriteContext,
  ): Promise<FhirHttpResult> {
    this.assertInteraction(type, 'create');
    assertJsonBody(contentType);
    const resource = this.validator.validate(body, type);
    const preferences = parsePrefer(context.request?.header('prefer'));
    const header = context.request?.header('if-none-exist');
    const writer = this.requireWriter('create');
    if (header !== undefined) {
      const condition = this.conditionOf(type, header);
      let result: FhirWriteResult<Resource> | undefined;
      if (typeof writer.createIfNoneExist === 'function') {
        result = await writer.createIfNoneExist(resource, condition, context);
      } else {
        // The writer cannot check inside its own transaction: check first, then create. Two concurrent
        // creates with the same condition may both find nothing and both create (a window of one round
        // trip); a client retrying a create whose answer it lost is covered.
        const existing = await this.store.findConditionalMatch(this.database, condition);
        if (existing === undefined) {
          const created = await writer.create?.(resource, context);
          if (created !== undefined) result = { resource: created, created: true, changed: true };
        } else result = { resource: existing, created: false, changed: false };
      }
      if (result === undefined) throw FhirException.methodNotAllowed('create', type);
      const status = result.created ? 201 : 200;
      const what = result.created ? 'created' : 'exists';
      return answer(
        status,
        versionHeaders(context.baseUrl, result.resource, true),
        result.resource,
        preferences,
        what,
      );
    }
    const stored = await writer.create?.(resource, context);
    if (stored === undefined) throw FhirException.methodNotAllowed('create', type);
    return answer(201, versionHeaders(context.baseUrl, stored, true), stored, preferences, 'created');
  }

  /**
   * The search of an `If-None-Exist` header (`identifier=urn:mrn|H-1`, optionally prefixed with `?` or
   * `Type?`): 400 when it is malformed, names a parameter this service does not know, or filters nothing.
   */
  private conditionOf(type: string, header: string): SearchRequest {
    const query = header.trim().replace(new RegExp(`^(${type})?\\?`), '');
    const request = this.registry.parseSearch(type, new URLSearchParams(query), { handling: 'strict' });
    if (request.filters.length === 0) {
      throw new FhirException(
        FhirErrorCode.Invalid,
        'If-None-Exist must hold at least one search parameter',
        {
          expression: ['If-None-Exist'],
        },
      );
    }
    return request;
  }

  async update(
    type: string,
    id: string,
    contentType: string | undefined,
    ifMatch: string | string[] | undefined,
    body: unknown,
    context: FhirWriteContext,
  ): Promise<FhirHttpResult> {
    this.assertInteraction(type, 'update');
    assertJsonBody(contentType);
    const resource = this.validator.validate(body, type);
    if (resource.id !== id) {
      throw FhirException.invalid('Resource id must equal the id in the URL', [`${type}.id`]);
    }
    const version = parseIfMatch(ifMatch);
    const result = await this.requireWriter('update').update?.(
      { ...resource, id },
      version === undefined ? context : { ...context, ifMatch: version },
    );
    if (result === undefined) throw FhirException.methodNotAllowed('update', type);
    return answer(
      result.created ? 201 : 200,
      versionHeaders(context.baseUrl, result.resource, true),
      result.resource,
      parsePrefer(context.request?.header('prefer')),
      result.created ? 'created' : 'updated',
    );
  }

  async delete(type: string, id: string, context: FhirWriteContext): Promise<FhirHttpResult> {
    this.assertInteraction(type, 'delete');
    const result = await this.requireWriter('delete').delete?.(type, id, context);
    if (result === undefined) throw FhirException.methodNotAllowed('delete', type);
    return {
      status: 200,
      headers: { ETag: weakETag(result.versionId) },
      body: informationOutcome(
        result.changed ? `${type}/${id} deleted` : `${type}/${id} was already deleted`,
      ),
    };
  }

  /** `POST [base]`: a batch Bundle where the service accepts them, else a transaction Bundle. */
  async bundle(
    contentType: string | undefined,
    body: unknown,
    context: FhirWriteContext,
  ): Promise<FhirHttpResult> {
    if (this.interactions.batch === true && isBatchBundle(body))
      return this.batch(contentType, body, context);
    return this.transaction(contentType, body, context);
  }

  /**
   * A batch Bundle: each entry runs as the create or update it asks for, as if it were a request of its
   * own (validation, the interactions the type offers, the writer) — one after another in Bundle order, or
   * all at once where the module asks for it (`concurrentBatchEntries`). Entry failures are answered in
   * their own `batch-response` entries, in Bundle order; the Bundle is 200 unless its envelope is malformed.
   */
  async batch(
    contentType: string | undefined,
    body: unknown,
    context: FhirWriteContext,
  ): Promise<FhirHttpResult> {
    if (this.interactions.batch !== true) throw FhirException.methodNotAllowed('batch');
    assertJsonBody(contentType);
    const entries = parseBatchBundle(this.validator, body);
    let results: BatchEntryResult[] = [];
    if (this.options.concurrentBatchEntries === true)
      results = await Promise.all(entries.map((entry) => this.batchEntry(entry, context)));
    else for (const entry of entries) results.push(await this.batchEntry(entry, context));
    return { status: 200, headers: {}, body: batchResponseBundle(context.baseUrl, results) };
  }

  private async batchEntry(
    entry: ReturnType<typeof parseBatchBundle>[number],
    bundleContext: FhirWriteContext,
  ): Promise<BatchEntryResult> {
    // An entry is a request of its own: the Bundle's parameters, headers and answer are not its.
    const { request: _request, setHeader: _setHeader, ...context } = bundleContext;
    try {
      if ('error' in entry) throw entry.error;
      const answer =
        entry.method === 'POST'
          ? await this.create(entry.resourceType, FHIR_JSON, entry.resource, context)
          : await this.update(
              entry.resourceType,
              entry.id,
              FHIR_JSON,
              entry.ifMatch,
              entry.resource,
              context,
            );
      return { resource: answer.body as Stored<Resource>, created: answer.status === 201 };
    } catch (error) {
      const { status, outcome, unexpected } = toFhirErrorResponse(error);
      if (unexpected)
        this.logger.error(error instanceof Error ? (error.stack ?? error.message) : String(error));
      return { status, outcome };
    }
  }

  async transaction(
    contentType: string | undefined,
    body: unknown,
    context: FhirWriteContext,
  ): Promise<FhirHttpResult> {
    if (this.interactions.transaction !== true) throw FhirException.methodNotAllowed('transaction');
    assertJsonBody(contentType);
    const parsed = parseTransactionBundle(this.validator, body);
    parsed.entries.forEach((entry, i) => {
      const interaction = entry.method === 'POST' ? 'create' : 'update';
      if (!this.offers(entry.resourceType, interaction)) {
        throw new FhirException(
          FhirErrorCode.MethodNotAllowed,
          `This service does not support ${interaction} on ${entry.resourceType}`,
          { expression: [`Bundle.entry[${i}].request`] },
        );
      }
    });
    const results = await this.requireWriter('transaction').transaction?.(parsed, context);
    if (results === undefined) throw FhirException.methodNotAllowed('transaction');
    return { status: 200, headers: {}, body: transactionResponseBundle(context.baseUrl, results) };
  }

  private offers(type: string, interaction: FhirTypeInteraction): boolean {
    return this.interactions.types?.[type]?.includes(interaction) ?? false;
  }

  /** 404 for a type the service does not serve, 405 for an interaction it does not offer on it. */
  private assertInteraction(type: string, interaction: FhirTypeInteraction): void {
    if (!this.registry.supports(type)) throw FhirException.notFound(type);
    if (!this.offers(type, interaction)) throw FhirException.methodNotAllowed(interaction, type);
  }

  private requireWriter(interaction: string): FhirWriter {
    if (this.writer === null || this.writer === undefined) throw FhirException.methodNotAllowed(interaction);
    return this.writer;
  }
}

/**
 * The answer to a create or update as `Prefer: return=` asks: the stored resource (the default), no body
 * (`minimal`), or an informational OperationOutcome (`OperationOutcome`); status and headers either way.
 */
function answer(
  status: number,
  headers: Record<string, string>,
  resource: Stored<Resource>,
  preferences: FhirPreferences,
  what: 'created' | 'updated' | 'exists',
): FhirHttpResult {
  switch (preferences.return) {
    case 'minimal':
      return { status, headers, body: undefined };
    case 'OperationOutcome': {
      const name = `${resource.resourceType}/${resource.id}`;
      const text =
        what === 'exists'
          ? `${name} already exists (If-None-Exist); nothing was written`
          : `${name} ${what}, version ${resource.meta.versionId}`;
      return { status, headers, body: informationOutcome(text) };
    }
    default:
      return { status, headers, body: resource };
  }
}

/** 415 unless the body was sent as FHIR JSON (or plain JSON). */
function assertJsonBody(contentType: string | undefined): void {
  const mediaType = contentType?.split(';')[0]?.trim().toLowerCase();
  if (mediaType === undefined || !ACCEPTED_MEDIA_TYPES.includes(mediaType)) {
    throw new FhirException(FhirErrorCode.UnsupportedMediaType, 'Content-Type must be application/fhir+json');
  }
}

/** `_count` and `_offset` of a history request; anything else is a 400. */
function pagingOf(query: unknown): { count: number; offset: number } {
  let count = DEFAULT_PAGE_SIZE;
  let offset = 0;
  const entries =
    query !== null && typeof query === 'object' ? Object.entries(query as Record<string, unknown>) : [];
  for (const [name, value] of entries) {
    if (typeof value !== 'string' || !/^\d{1,9}$/.test(value)) {
      if (name === '_count' || name === '_offset') {
        throw new FhirException(FhirErrorCode.Invalid, `Invalid value for ${name}`, { expression: [name] });
      }
      throw new FhirException(FhirErrorCode.UnknownSearchParameter, `Unknown parameter: ${name}`, {
        expression: [name],
      });
    }
    if (name === '_count') count = Math.min(Number(value), MAX_PAGE_SIZE);
    else if (name === '_offset') offset = Math.min(Number(value), MAX_OFFSET);
    else
      throw new FhirException(FhirErrorCode.UnknownSearchParameter, `Unknown parameter: ${name}`, {
        expression: [name],
      });
  }
  return { count, offset };
}
