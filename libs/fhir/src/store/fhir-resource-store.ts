import { randomUUID } from 'node:crypto';
import type { Resource } from '@medplum/fhirtypes';
import type { SqlExecutor } from '@hospital/platform';
import { FhirErrorCode } from '../errors/fhir-error-code';
import { FhirException } from '../errors/fhir-exception';
import { extractSearchIndex, referenceTarget } from '../search/search-index';
import type { SearchParameterRegistry } from '../search/search-parameter-registry';
import type { SearchRequest, SearchResult } from '../search/search-request';
import { isValidFhirId } from '../validation/fhir-validator';
import {
  indexArrays,
  INSERT_MANY_STATEMENT,
  INSERT_STATEMENT,
  UPDATE_STATEMENT,
  writeStatement,
} from './fhir-store-sql';
import { buildSearchSql, includeSql } from './search-sql';
import {
  assertId,
  canonicalContent,
  literalReferences,
  resourceKey,
  sameContent,
  type Stored,
  withMeta,
  withMetaMany,
} from './resource-content';

export { sameContent, type Stored };

export interface FhirWriteResult<T extends Resource> {
  resource: Stored<T>;
  /** True when this write created the resource (201), false when it updated it (200). */
  created: boolean;
  /** False when `upsertCopy` found the same content and wrote nothing. */
  changed: boolean;
}

export interface FhirDeleteResult {
  /** The version that records the deletion. */
  versionId: string;
  /** False when the resource was already deleted (nothing written). */
  changed: boolean;
}

export interface FhirHistoryEntry {
  resourceType: string;
  id: string;
  versionId: string;
  lastUpdated: string;
  deleted: boolean;
  /** Absent for the version that records a deletion. */
  resource?: Resource;
}

export interface FhirHistoryPage {
  total: number;
  entries: FhirHistoryEntry[];
}

interface CurrentRow {
  version_id: number;
  deleted: boolean;
  content: Resource;
}

const MAX_ATTEMPTS = 5;
/** At most this many resources are added to one search page by `_include` and `_revinclude`. */
export const MAX_INCLUDED = 500;

/**
 * Versioned FHIR resources in the service's own PostgreSQL database: current rows, full history and
 * a search index (tables of `FhirStore1763700000000`). A plain class: every method takes the
 * `SqlExecutor` to run on, so the same code runs on the pool, in a local transaction, or in a
 * participant's branch that ends in PREPARE TRANSACTION. Callers validate resources before writing.
 */
export class FhirResourceStore {
  constructor(private readonly registry: SearchParameterRegistry) {}

  /** Creates a resource; the server assigns a UUID unless `id` is given (409 when that id is taken). */
  async create<T extends Resource>(
    exec: SqlExecutor,
    resource: T,
    options: { id?: string } = {},
  ): Promise<Stored<T>> {
    const id = options.id ?? randomUUID();
    assertId(id);
    const stored = await this.insert(exec, resource, id);
    if (stored === undefined) {
      throw new FhirException(FhirErrorCode.Conflict, `${resource.resourceType}/${id} already exists`);
    }
    return stored;
  }

  /**
   * The one current resource the search `condition` (an `If-None-Exist` header, parsed) finds, or undefined
   * when it finds none; 412 when it finds more than one.
   */
  async findConditionalMatch(
    exec: SqlExecutor,
    condition: SearchRequest,
  ): Promise<Stored<Resource> | undefined> {
    const found = await this.search(exec, {
      resourceType: condition.resourceType,
      filters: condition.filters,
      count: 2,
      offset: 0,
      sort: [],
      total: false,
      params: [],
    });
    if (found.resources.length > 1) {
      throw new FhirException(
        FhirErrorCode.PreconditionFailed,
        `If-None-Exist matches more than one ${condition.resourceType}`,
        { expression: ['If-None-Exist'] },
      );
    }
    return found.resources[0];
  }

  /**
   * Takes the transaction-scoped advisory lock of a conditional create: concurrent creates with the same
   * type and condition (on any replica) hold it one after another until their transactions end.
   */
  async lockConditionalCreate(exec: SqlExecutor, condition: SearchRequest): Promise<void> {
    const key = `fhir-if-none-exist:${condition.resourceType}:${JSON.stringify(condition.filters)}`;
    await exec.query('SELECT pg_advisory_xact_lock(hashtextextended($1, 0))', [key]);
  }

  /**
   * A conditional create (`If-None-Exist`) without a window: run it inside `Database.transaction` (or a
   * branch). It takes a transaction-scoped advisory lock on the type and the condition, so concurrent
   * creates with the same condition (on any replica) run one after another, then answers the one match
   * (`created: false`, nothing written), 412 for several, or creates the resource (`created: true`).
   */
  async createIfNoneExist<T extends Resource>(
    exec: SqlExecutor,
    resource: T,
    condition: SearchRequest,
  ): Promise<FhirWriteResult<T>> {
    await this.lockConditionalCreate(exec, condition);
    const existing = await this.findConditionalMatch(exec, condition);
    if (existing !== undefined) return { resource: existing as Stored<T>, created: false, changed: false };
    return { resource: await this.create(exec, resource), created: true, changed: true };
  }

  /**
   * Creates several resources in one statement (a dispensing round, requests committed together): the
   * same rows as `create` for each, under the given id or a new UUID. A 409 when any id is taken (or one
   * is named twice); run it in a transaction, which the 409 rolls back: the statement itself writes the
   * others.
   */
  async createMany<T extends Resource>(
    exec: SqlExecutor,
    items: readonly { resource: T; id?: string }[],
  ): Promise<Stored<T>[]> {
    const stored = withMetaMany(items.map(({ resource, id = randomUUID() }) => ({ resource, id })));
    const inserted = await this.insertMany(exec, stored);
    // A resource named twice in `items` is inserted once: the second is a conflict like a taken id.
    const first = stored.find((r) => !inserted.delete(resourceKey(r)));
    if (first) {
      throw new FhirException(FhirErrorCode.Conflict, `${first.resourceType}/${first.id} already exists`);
    }
    return stored;
  }

  /**
   * `upsertCopy` for several resources: the new copies (usually all of them) are written in one
   * statement, the others one by one. Results in the order given.
   */
  async upsertCopies<T extends Resource>(
    exec: SqlExecutor,
    resources: readonly T[],
  ): Promise<FhirWriteResult<T>[]> {
    const fresh = withMetaMany(
      resources.map((resource) => {
        if (resource.id === undefined)
          throw FhirException.invalid('Resource id is required for a copy', ['id']);
        return { resource, id: resource.id };
      }),
    );
    const inserted = await this.insertMany(exec, fresh);
    const results: FhirWriteResult<T>[] = [];
    for (const [i, copy] of fresh.entries()) {
      results.push(
        inserted.delete(resourceKey(copy))
          ? { resource: copy, created: true, changed: true }
          : await this.refreshCopy(exec, resources[i], copy.id),
      );
    }
    return results;
  }

  /**
   * Updates `resource` (its `id` names the target). `ifMatch` is the version from `If-Match: W/"n"`;
   * a different current version is a 412. Without `ifMatch`, a missing resource is created with the
   * given id (update-as-create) and a deleted one is brought back as a new version.
   */
  async update<T extends Resource>(
    exec: SqlExecutor,
    resource: T,
    options: { ifMatch?: string } = {},
  ): Promise<FhirWriteResult<T>> {
    const id = resource.id;
    if (id === undefined) throw FhirException.invalid('Resource id is required for update', ['id']);
    assertId(id);
    const { ifMatch } = options;
    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      const current = await this.current(exec, resource.resourceType, id, true);
      if (current === undefined) {
        if (ifMatch !== undefined) throw this.preconditionFailed(resource.resourceType, id);
        const created = await this.insert(exec, resource, id);
        if (created !== undefined) return { resource: created, created: true, changed: true };
        continue; // created concurrently: update it instead
      }
      if (ifMatch !== undefined && ifMatch !== String(current.version_id)) {
        throw this.preconditionFailed(resource.resourceType, id);
      }
      const updated = await this.replace(exec, resource, id, current.version_id);
      if (updated !== undefined) return { resource: updated, created: false, changed: true };
      if (ifMatch !== undefined) throw this.preconditionFailed(resource.resourceType, id);
    }
    throw new FhirException(
      FhirErrorCode.Conflict,
      `${resource.resourceType}/${id} is being changed concurrently`,
    );
  }

  /**
   * Keeps this service's copy of a resource owned by another service, under the same id: writes a
   * new version (of its own numbering) only when the content differs from the stored copy, ignoring
   * `meta.versionId` and `meta.lastUpdated`. A deleted copy is brought back.
   */
  async upsertCopy<T extends Resource>(exec: SqlExecutor, resource: T): Promise<FhirWriteResult<T>> {
    const id = resource.id;
    if (id === undefined) throw FhirException.invalid('Resource id is required for a copy', ['id']);
    assertId(id);
    // Most copies are new (a new patient's or order's first sync): one statement, no read first.
    const fresh = await this.insert(exec, resource, id);
    if (fresh !== undefined) return { resource: fresh, created: true, changed: true };
    return this.refreshCopy(exec, resource, id);
  }

  /**
   * Writes a resource under the id its sender minted, once: created when the id is new; nothing written
   * when the current version already has the same content (ignoring `meta.versionId` and
   * `meta.lastUpdated`), so a repeated delivery is a no-op; a 409 when the id holds other content or a
   * deleted resource. For branch steps whose resources the coordinator names.
   */
  async createOnce<T extends Resource>(exec: SqlExecutor, resource: T): Promise<FhirWriteResult<T>> {
    const id = resource.id;
    if (id === undefined) throw FhirException.invalid('Resource id is required', ['id']);
    assertId(id);
    const fresh = await this.insert(exec, resource, id);
    if (fresh !== undefined) return { resource: fresh, created: true, changed: true };
    const current = await this.current(exec, resource.resourceType, id, true);
    if (current !== undefined && !current.deleted && sameContent(current.content, resource)) {
      return { resource: current.content as Stored<T>, created: false, changed: false };
    }
    throw new FhirException(
      FhirErrorCode.Conflict,
      `${resource.resourceType}/${id} already exists with other content`,
    );
  }

  /** The current version; 404 when unknown, 410 when deleted. */
  async read<T extends Resource = Resource>(
    exec: SqlExecutor,
    resourceType: string,
    id: string,
  ): Promise<Stored<T>> {
    const current = isValidFhirId(id) ? await this.current(exec, resourceType, id, false) : undefined;
    if (current === undefined) throw FhirException.notFound(resourceType, id);
    if (current.deleted) throw FhirException.gone(resourceType, id);
    return current.content as Stored<T>;
  }

  /** One version; 404 when unknown, 410 when that version records the deletion. */
  async vread<T extends Resource = Resource>(
    exec: SqlExecutor,
    resourceType: string,
    id: string,
    versionId: string,
  ): Promise<Stored<T>> {
    if (!isValidFhirId(id) || !/^[1-9]\d{0,8}$/.test(versionId)) {
      throw new FhirException(FhirErrorCode.NotFound, `${resourceType}/${id} has no version ${versionId}`);
    }
    const rows = await exec.query<{ deleted: boolean; content: Resource | null }>(
      `SELECT deleted, content FROM fhir_resource_history WHERE resource_type = $1 AND id = $2 AND version_id = $3`,
      [resourceType, id, Number(versionId)],
    );
    const row = rows[0];
    if (row === undefined) {
      throw new FhirException(FhirErrorCode.NotFound, `${resourceType}/${id} has no version ${versionId}`);
    }
    if (row.deleted || row.content === null) {
      throw new FhirException(
        FhirErrorCode.Gone,
        `${resourceType}/${id} version ${versionId} records its deletion`,
      );
    }
    return row.content as Stored<T>;
  }

  /** Versions, newest first; 404 when the resource never existed. */
  async history(
    exec: SqlExecutor,
    resourceType: string,
    id: string,
    page: { count?: number; offset?: number } = {},
  ): Promise<FhirHistoryPage> {
    if (!isValidFhirId(id)) throw FhirException.notFound(resourceType, id);
    const counted = await exec.query<{ total: number }>(
      `SELECT count(*)::int AS total FROM fhir_resource_history WHERE resource_type = $1 AND id = $2`,
      [resourceType, id],
    );
    const total = counted[0]?.total ?? 0;
    if (total === 0) throw FhirException.notFound(resourceType, id);
    const rows = await exec.query<{
      version_id: number;
      last_updated: Date;
      deleted: boolean;
      content: Resource | null;
    }>(
      `SELECT version_id, last_updated, deleted, content FROM fhir_resource_history
       WHERE resource_type = $1 AND id = $2 ORDER BY version_id DESC LIMIT $3 OFFSET $4`,
      [resourceType, id, page.count ?? 100, page.offset ?? 0],
    );
    return {
      total,
      entries: rows.map((row) => {
        const entry: FhirHistoryEntry = {
          resourceType,
          id,
          versionId: String(row.version_id),
          lastUpdated: row.last_updated.toISOString(),
          deleted: row.deleted,
        };
        if (row.content !== null && !row.deleted) entry.resource = row.content;
        return entry;
      }),
    };
  }

  /**
   * Soft delete: a new version marks the resource deleted (read → 410), its index rows go. Deleting a
   * deleted resource changes nothing; an unknown one is a 404.
   */
  async delete(exec: SqlExecutor, resourceType: string, id: string): Promise<FhirDeleteResult> {
    if (!isValidFhirId(id)) throw FhirException.notFound(resourceType, id);
    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      const current = await this.current(exec, resourceType, id, true);
      if (current === undefined) throw FhirException.notFound(resourceType, id);
      if (current.deleted) return { versionId: String(current.version_id), changed: false };
      const versionId = current.version_id + 1;
      const rows = await exec.query<{ version_id: number }>(writeStatement('delete'), [
        resourceType,
        id,
        versionId,
        new Date().toISOString(),
        current.version_id,
      ]);
      if (rows.length > 0) return { versionId: String(versionId), changed: true };
    }
    throw new FhirException(FhirErrorCode.Conflict, `${resourceType}/${id} is being changed concurrently`);
  }

  /** Resources matching a parsed search (see `SearchParameterRegistry.parseSearch`), one page. */
  async search<T extends Resource = Resource>(
    exec: SqlExecutor,
    request: SearchRequest,
  ): Promise<SearchResult<Stored<T>>> {
    const sql = buildSearchSql(this.registry, request);
    let total: number | undefined;
    if (request.total) {
      const counted = await exec.query<{ total: number }>(sql.count.text, sql.count.values);
      total = counted[0]?.total ?? 0;
    }
    const resources =
      request.count === 0 || total === 0
        ? []
        : (await exec.query<{ content: Stored<T> }>(sql.page.text, sql.page.values)).map(
            (row) => row.content,
          );
    return total === undefined ? { resources } : { total, resources };
  }

  /**
   * The resources the `_include` and `_revinclude` rules of `request` bring in for `matches` (one page of
   * its results): current versions, each once and none that is already a match, at most `limit` in all
   * (`truncated` tells when more were left out).
   */
  async searchIncludes(
    exec: SqlExecutor,
    request: SearchRequest,
    matches: readonly Resource[],
    limit = MAX_INCLUDED,
  ): Promise<{ resources: Stored<Resource>[]; truncated: boolean }> {
    const ids = matches.map((m) => m.id).filter((id): id is string => id !== undefined);
    const seen = new Set(ids.map((id) => `${request.resourceType}/${id}`));
    const resources: Stored<Resource>[] = [];
    let truncated = false;
    const rules = [
      ...(request.include ?? []).map((rule) => ({ rule, reverse: false })),
      ...(request.revinclude ?? []).map((rule) => ({ rule, reverse: true })),
    ];
    if (ids.length === 0) return { resources, truncated };
    for (const { rule, reverse } of rules) {
      const room = limit - resources.length;
      if (room <= 0) {
        truncated = true;
        break;
      }
      const sql = includeSql(rule, request.resourceType, ids, reverse, room + 1);
      const rows = await exec.query<{ content: Stored<Resource> }>(sql.text, sql.values);
      if (rows.length > room) truncated = true;
      for (const { content } of rows.slice(0, room)) {
        const key = `${content.resourceType}/${content.id}`;
        if (seen.has(key)) continue;
        seen.add(key);
        resources.push(content);
      }
    }
    return { resources, truncated };
  }

  /** Whether a current (not deleted) resource exists. */
  async exists(exec: SqlExecutor, resourceType: string, id: string): Promise<boolean> {
    if (!isValidFhirId(id)) return false;
    const rows = await exec.query(
      `SELECT 1 FROM fhir_resource WHERE resource_type = $1 AND id = $2 AND NOT deleted`,
      [resourceType, id],
    );
    return rows.length > 0;
  }

  /**
   * Throws 422 (ReferenceNotFound) when a literal reference of `resource` to one of `resourceTypes`
   * points at a resource this store does not hold; the issue names the element, not the target.
   */
  async assertReferencesExist(
    exec: SqlExecutor,
    resource: Resource,
    resourceTypes: readonly string[],
  ): Promise<void> {
    const missing: string[] = [];
    for (const { path, reference } of literalReferences(resource, resource.resourceType)) {
      const target = referenceTarget(reference);
      if (target === undefined || !resourceTypes.includes(target.resourceType)) continue;
      if (!(await this.exists(exec, target.resourceType, target.id))) missing.push(path);
    }
    if (missing.length > 0) {
      throw new FhirException(FhirErrorCode.ReferenceNotFound, 'Referenced resource not found', {
        expression: missing,
      });
    }
  }

  /** The rest of `upsertCopy` once the copy is known to exist: a new version only when the content differs. */
  private async refreshCopy<T extends Resource>(
    exec: SqlExecutor,
    resource: T,
    id: string,
  ): Promise<FhirWriteResult<T>> {
    const wanted = canonicalContent(resource);
    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      const current = await this.current(exec, resource.resourceType, id, true);
      if (current === undefined) {
        const created = await this.insert(exec, resource, id);
        if (created !== undefined) return { resource: created, created: true, changed: true };
        continue;
      }
      if (!current.deleted && canonicalContent(current.content) === wanted) {
        return { resource: current.content as Stored<T>, created: false, changed: false };
      }
      const updated = await this.replace(exec, resource, id, current.version_id);
      if (updated !== undefined) return { resource: updated, created: false, changed: true };
    }
    throw new FhirException(
      FhirErrorCode.Conflict,
      `${resource.resourceType}/${id} is being changed concurrently`,
    );
  }

  /** Inserts version 1 of each resource in one statement; returns the `Type/id` keys it inserted. */
  private async insertMany<T extends Resource>(
    exec: SqlExecutor,
    stored: readonly Stored<T>[],
  ): Promise<Set<string>> {
    if (stored.length === 0) return new Set();
    const index = stored.flatMap((content, i) =>
      extractSearchIndex(this.registry, content).map((row) => ({ ...row, ord: i + 1 })),
    );
    const rows = await exec.query<{ resource_type: string; id: string }>(INSERT_MANY_STATEMENT, [
      stored.map((r) => r.resourceType),
      stored.map((r) => r.id),
      stored.map((r) => r.meta.lastUpdated),
      stored.map((r) => JSON.stringify(r)),
      index.map((row) => row.ord),
      ...indexArrays(index),
    ]);
    return new Set(rows.map((r) => `${r.resource_type}/${r.id}`));
  }

  private async current(
    exec: SqlExecutor,
    resourceType: string,
    id: string,
    lock: boolean,
  ): Promise<CurrentRow | undefined> {
    const rows = await exec.query<CurrentRow>(
      `SELECT version_id, deleted, content FROM fhir_resource WHERE resource_type = $1 AND id = $2${lock ? ' FOR UPDATE' : ''}`,
      [resourceType, id],
    );
    return rows[0];
  }

  private async insert<T extends Resource>(
    exec: SqlExecutor,
    resource: T,
    id: string,
  ): Promise<Stored<T> | undefined> {
    const content = withMeta(resource, id, 1, new Date().toISOString());
    const rows = await exec.query(INSERT_STATEMENT, [
      resource.resourceType,
      id,
      1,
      content.meta.lastUpdated,
      JSON.stringify(content),
      ...indexArrays(extractSearchIndex(this.registry, content)),
    ]);
    return rows.length > 0 ? content : undefined;
  }

  private async replace<T extends Resource>(
    exec: SqlExecutor,
    resource: T,
    id: string,
    currentVersion: number,
  ): Promise<Stored<T> | undefined> {
    const content = withMeta(resource, id, currentVersion + 1, new Date().toISOString());
    const rows = await exec.query(UPDATE_STATEMENT, [
      resource.resourceType,
      id,
      currentVersion + 1,
      content.meta.lastUpdated,
      JSON.stringify(content),
      ...indexArrays(extractSearchIndex(this.registry, content)),
      currentVersion,
    ]);
    return rows.length > 0 ? content : undefined;
  }

  private preconditionFailed(resourceType: string, id: string): FhirException {
    return new FhirException(
      FhirErrorCode.PreconditionFailed,
      `If-Match does not name the current version of ${resourceType}/${id}`,
    );
  }
}
