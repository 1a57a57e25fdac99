// What every replica trial shares (replica-trials.ts runs them): the context, a trial's shape, its
// verdict, the requests it sends and the databases it reads.
import type { Role } from '@hospital/platform';
import type { DatabaseClients } from '../lib/database-clients';
import { openSlots } from '../lib/demo-appointments';
import { databaseName, devAuthorization } from '../services';
import type { Compose, ContainerState } from './compose';
import type { Log } from './process';

/** How long each trial's load runs, and when into it the replica is killed. */
export const LOAD_MS = 12_000;
export const KILL_AT_MS = 4_000;
/** Requests in flight at once. */
export const WORKERS = 4;
/** How long the survivors may take to settle (leases of the dead replica's transactions run out first). */
export const SETTLE_MS = 120_000;
const FHIR_JSON = 'application/fhir+json';
export const MRN_SYSTEM = 'urn:oid:1.2.36.146.595.217.0.1';
export const DAY_MS = 86_400_000;

export interface TrialContext {
  compose: Compose;
  /** Published base URLs of the services that run one replica (`appointments`, `pharmacy-inventory`…). */
  published: (service: string) => string;
  /** The published PostgreSQL. */
  postgres: { host: string; port: number; user: string; password: string };
  log: Log;
}

/** What a trial's databases show once read: each list names examples, empty when the invariant holds. */
export interface Verdict {
  lost: string[];
  duplicated: string[];
  inDoubt: string[];
  /** One line: what was found applied. */
  summary: string;
}

export interface Answer {
  key: string;
  status: number | 'error';
  body?: string;
}

/** The replica-aware part of a trial: which service's replicas it loads and kills, and how it checks. */
export interface Trial {
  style: string;
  /** The service a replica of which is killed. */
  victim: string;
  /** The victim's own port (its replicas are reached at their addresses on the project's network). */
  port: number;
  /** When into the load the replica is killed (KILL_AT_MS unless set). */
  killAtMs?: number;
  /** Where the load goes, when not to the victim's replicas themselves (e.g. 'at telemedicine'). */
  loadAt?: string;
  prepare?: (ctx: TrialContext, db: Databases) => Promise<void>;
  /** The `n`th request of the load against one replica at `base`. */
  request: (base: string, n: number, ctx: TrialContext) => Promise<Answer | undefined>;
  /** Reads the databases; `killedAt`: when the replica died. */
  check: (answers: readonly Answer[], db: Databases, killedAt: Date, ctx: TrialContext) => Promise<Verdict>;
}

/** One connection per service database of the Compose PostgreSQL. */
export type Databases = DatabaseClients;

export async function send(url: string, role: Role, method: string, body?: unknown): Promise<Answer> {
  try {
    const response = await fetch(url, {
      method,
      headers: {
        accept: FHIR_JSON,
        authorization: devAuthorization(role),
        ...(body === undefined ? {} : { 'content-type': FHIR_JSON }),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(20_000),
    });
    return { key: url, status: response.status, body: await response.text() };
  } catch (error) {
    return { key: url, status: 'error', body: error instanceof Error ? error.message : String(error) };
  }
}

export const idOf = (answer: Answer): string | undefined => {
  try {
    return (JSON.parse(answer.body ?? '') as { id?: string }).id;
  } catch {
    return undefined;
  }
};

/** Prepared transactions PostgreSQL still holds in the services' databases. */
export async function preparedIn(db: Databases, services: readonly string[]): Promise<string[]> {
  const rows = await db.rows<{ database: string; gid: string }>(
    services[0],
    'SELECT database, gid FROM pg_prepared_xacts WHERE database = ANY($1)',
    [services.map(databaseName)],
  );
  return rows.map((r) => `${r.database} ${r.gid}`);
}

/** The running replicas of `service`, with their base URLs (`port`) on the project's network. */
export async function runningReplicas(
  compose: Compose,
  service: string,
  port: number,
): Promise<{ container: ContainerState; base: string }[]> {
  const running = (await compose.containers()).filter((c) => c.service === service && c.state === 'running');
  return Promise.all(
    running.map(async (container) => ({
      container,
      base: `http://${await compose.address(container.name)}:${port}`,
    })),
  );
}

/** The base URL of one running replica of a service that publishes no port (appointments, say). */
export async function replicaUrl(ctx: TrialContext, service: string, port: number): Promise<string> {
  const [first] = await runningReplicas(ctx.compose, service, port);
  if (first === undefined) throw new Error(`no replica of ${service} is running`);
  return first.base;
}

export interface FreeSlot {
  slotId: string;
  start: string;
  end: string;
}

/**
 * Opens `practitioner`'s slots for `days` days from `firstDay` days ahead (far enough that no other trial
 * holds them) at appointments (`base`) and returns the free ones; throws when there are none (an earlier
 * run took them).
 */
export async function openFreeSlots(
  base: string,
  practitioner: string,
  firstDay: number,
  days: number,
): Promise<FreeSlot[]> {
  await openSlots(base, practitioner, firstDay, days);
  const slots: FreeSlot[] = [];
  for (let offset = firstDay; offset < firstDay + days; offset += 1) {
    const date = new Date(Math.floor(Date.now() / DAY_MS) * DAY_MS + offset * DAY_MS)
      .toISOString()
      .slice(0, 10);
    const free = await send(
      `${base}/api/slots/free?practitioner=${practitioner}&date=${date}`,
      'clinician',
      'GET',
    );
    if (free.status !== 200) throw new Error(`free slots: HTTP ${free.status}`);
    slots.push(...(JSON.parse(free.body ?? '[]') as FreeSlot[]));
  }
  if (slots.length === 0)
    throw new Error(
      `${practitioner} has no free slot on days ${firstDay}–${firstDay + days - 1} (an earlier run took them)`,
    );
  return slots;
}
