// Fault trials of the pharmacy's dispensing → inventory → supply-chain → supplier chain: a transactional
// outbox and inbox over RabbitMQ, and purchase orders as two-phase messages. One trial drives concurrent
// dispenses over HTTP for a few seconds while one real fault is injected — a SIGKILL at a protocol point
// (relay, consumer, two-phase producer, message server), RabbitMQ stopped and started with its own
// commands, duplicates of delivered events published on the broker, two relays at once — then lets
// everything settle and checks the invariants of DESIGN.md section 3 directly in the five databases.
// Used by `npm run faults -- outbox` (scripts/faults.ts) and apps/pharmacy/test/outbox.fault-spec.ts.
import { Client } from 'pg';
import type { ProtocolPoint } from '@hospital/transactions/core/protocol-points';
import { MessageHeaders } from '@hospital/transactions/adapters/rabbitmq/rabbitmq-connection';
import { startService, stopService } from '../infra/index';
import type { PharmacyServiceName } from '../services';
/* eslint-disable no-restricted-imports -- the runner checks the parts' own invariants and speaks their FHIR */
import { PharmacyEvent } from '../../apps/pharmacy/src/contracts/pharmacy-events';
import { RXNORM_SYSTEM } from '../../apps/pharmacy/src/dispensing/fhir-resources';
import type { StockSeedLine } from '../../apps/pharmacy/src/inventory/database/seeds/stock';
import { STOCK_INVARIANT_VIOLATIONS_SQL } from '../../apps/pharmacy/src/inventory/stock/stock-invariant';
/* eslint-enable no-restricted-imports */
import type { Log } from './bench-cluster';
import {
  connectPharmacyDatabases,
  deleteNamespace,
  PHARMACY_QUEUES,
  PharmacyCluster,
  PharmacyRole,
  publishRaw,
  queueDepths,
  RawMessage,
  recreatePharmacyDatabases,
  STANDING_ROLES,
} from './pharmacy-cluster';
import { describeExit, ExitInfo, ServiceProcess, ServiceStartError } from './service-process';

/** The faults a trial injects, one per trial, in rotation. */
export type FaultKind =
  | 'relay-kill-mid-batch'
  | 'relay-kill-after-publish'
  | 'consumer-kill'
  | 'broker-restart'
  | 'duplicates'
  | 'two-relays'
  | 'producer-kill-after-prepare'
  | 'producer-kill-after-local-commit'
  | 'server-kill-after-publish';

export interface FaultDefinition {
  /** The process that SIGKILLs itself at a protocol point (restarted without the fault once dead). */
  kill?: { role: PharmacyRole; point: ProtocolPoint };
  description: string;
}

export const FAULTS: Readonly<Record<FaultKind, FaultDefinition>> = {
  'relay-kill-mid-batch': {
    kill: { role: 'relay', point: 'outbox.relay.mid-batch' },
    description: 'relay SIGKILLed with half a batch confirmed, nothing marked published',
  },
  'relay-kill-after-publish': {
    kill: { role: 'relay', point: 'outbox.relay.after-publish' },
    description: 'relay SIGKILLed with the whole batch confirmed, before the mark',
  },
  'consumer-kill': {
    kill: { role: 'inventory', point: 'outbox.consumer.after-commit' },
    description: 'inventory SIGKILLed after its inbox commit, before the broker ack',
  },
  'broker-restart': { description: 'RabbitMQ stopped (rabbitmqctl stop) mid-stream and started again' },
  duplicates: { description: 'delivered events re-published on the broker with the same ids and headers' },
  'two-relays': { description: 'a second relay process next to the first' },
  'producer-kill-after-prepare': {
    kill: { role: 'supply-chain', point: 'message.producer.after-prepare' },
    description: 'supply chain SIGKILLed after preparing a purchase order, before its local transaction',
  },
  'producer-kill-after-local-commit': {
    kill: { role: 'supply-chain', point: 'message.producer.after-local-commit' },
    description: 'supply chain SIGKILLed after committing a purchase order, before submitting it',
  },
  'server-kill-after-publish': {
    kill: { role: 'messages', point: 'message.server.after-publish' },
    description: 'message server SIGKILLed after the broker confirmed a purchase order, before its mark',
  },
};

/**
 * Rotation order. The two slow trials (a dead producer's reorder lease and the message server's publishing
 * lease are 30 s each) are spread out between quick ones.
 */
export const FAULT_ORDER: readonly FaultKind[] = [
  'relay-kill-mid-batch',
  'consumer-kill',
  'producer-kill-after-local-commit',
  'broker-restart',
  'duplicates',
  'server-kill-after-publish',
  'two-relays',
  'relay-kill-after-publish',
  'producer-kill-after-prepare',
];

export interface OutboxTrialPlan {
  index: number;
  fault: FaultKind;
}

/** `count` trials round-robin over `faults`. */
export function planOutboxTrials(
  count: number,
  faults: readonly FaultKind[] = FAULT_ORDER,
): OutboxTrialPlan[] {
  const missing = (Object.keys(FAULTS) as FaultKind[]).filter((f) => !faults.includes(f));
  if (faults === FAULT_ORDER && missing.length > 0)
    throw new Error(`fault order misses ${missing.join(', ')}`);
  return Array.from({ length: count }, (_, index) => ({ index, fault: faults[index % faults.length] }));
}

/**
 * The stock of a run: few lines, low stock and a reorder point half-way down, so that a few seconds of
 * dispenses open reorders (and purchase orders, and deliveries) in every trial.
 */
export const FAULT_STOCK: readonly StockSeedLine[] = [
  ['197361', 'ward-3a'],
  ['314076', 'ward-3a'],
  ['313782', 'icu'],
  ['198440', 'icu'],
  ['243670', 'main-pharmacy'],
  ['308182', 'main-pharmacy'],
].map(([medicationCode, locationId]) => ({
  medicationCode,
  locationId,
  onHand: 150,
  reorderPoint: 75,
  reorderQuantity: 100,
}));

/** Environment of every process of a run: short delays and time-outs, so a trial settles in seconds. */
export const DEFAULT_OUTBOX_FAULT_ENV: Record<string, string> = {
  LOG_LEVEL: 'warn',
  PG_POOL_SIZE: '6',
  SUPPLIER_DELAY_MS: '300',
  MESSAGE_CHECK_BACK_AFTER_MS: '2000',
  TX_RECOVERY_INTERVAL_MS: '250',
  TX_VOTE_TIMEOUT_MS: '2000',
  OUTBOX_BATCH_SIZE: '20',
  OUTBOX_POLL_MS: '250',
  CONSUMER_PREFETCH: '50',
};

/** One thing found wrong. `key` names the thing, so a finding that persists is reported once. */
export interface Finding {
  key: string;
  kind: 'lost' | 'duplicated' | 'in-doubt' | 'violation';
  message: string;
}

export interface Evaluation {
  findings: Finding[];
  dispenses: number;
  purchaseOrders: number;
  deliveries: number;
  /** Two-phase messages still prepared or submitted. */
  inDoubt: number;
}

export interface OutboxTrialResult extends OutboxTrialPlan {
  victim?: PharmacyRole;
  /** True when the fault happened (the victim died at its point; the broker went down; duplicates went out). */
  injected: boolean;
  victimExit?: string;
  /** Dispenses the API answered 201, and requests that got anything else. */
  dispenses: number;
  failedRequests: number;
  /** Purchase orders placed (committed at the supply chain) during the trial. */
  purchaseOrders: number;
  duplicatesInjected: number;
  /**
   * Deliveries the consumers' inboxes recognised as already applied during the trial (from their
   * `/metrics`; a lower bound, since a restarted consumer's counter starts again at zero).
   */
  duplicatesAbsorbed: number;
  /** Time from the end of the load until everything was quiet (undefined: not quiet in time). */
  settleMs?: number;
  seconds: number;
  /** Milliseconds spent arming, under load, restarting the victim, settling, checking. */
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
  leftInDoubt: number;
}

export interface OutboxFaultLabOptions {
  /** Database suffix (`hospital_<part>_<suffix>`). */
  suffix: string;
  /** RabbitMQ namespace of the run (queues and exchanges are prefixed with it, deleted at the end). */
  namespace: string;
  portBase: number;
  log?: Log;
  /** Environment on top of DEFAULT_OUTBOX_FAULT_ENV. */
  env?: Record<string, string>;
  /** Dispenses per trial are driven this long (longer while an armed victim has not died yet). */
  loadMs?: number;
  /** Concurrent HTTP clients, and the most dispenses they post per second together. */
  concurrency?: number;
  ratePerSecond?: number;
  /** How long an armed victim may take to reach its point (the load goes on meanwhile). */
  victimTimeoutMs?: number;
  /** Bound on settling after a trial. */
  settleTimeoutMs?: number;
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** A small seeded PRNG (mulberry32), so a trial's load is the same on every run. */
function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const lineKey = (medicationCode: string, locationId: string): string => `${medicationCode}@${locationId}`;

interface LoadResult {
  created: number;
  failed: number;
  statuses: Map<string, number>;
}

/** Posts dispenses from `concurrency` clients, at most `ratePerSecond`, until `done()` says stop. */
async function driveDispenses(
  url: string,
  stock: readonly StockSeedLine[],
  options: { concurrency: number; ratePerSecond: number; seed: number; tag: string; done: () => boolean },
): Promise<LoadResult> {
  const next = random(options.seed);
  const result: LoadResult = { created: 0, failed: 0, statuses: new Map() };
  const start = Date.now();
  let counter = 0;
  const worker = async (): Promise<void> => {
    while (!options.done()) {
      const n = counter++;
      const due = start + (n * 1000) / options.ratePerSecond;
      if (due > Date.now()) await sleep(due - Date.now());
      if (options.done()) break;
      const line = stock[Math.floor(next() * stock.length)];
      const body = {
        resourceType: 'MedicationDispense',
        status: 'completed',
        identifier: [{ system: 'urn:hospital:faults:dispense', value: `${options.tag}-${n}` }],
        medicationCodeableConcept: { coding: [{ system: RXNORM_SYSTEM, code: line.medicationCode }] },
        subject: { reference: 'Patient/pat-0001' },
        quantity: { value: 1 + Math.floor(next() * 5) },
        location: { reference: `Location/${line.locationId}` },
        whenHandedOver: new Date().toISOString(),
      };
      let status: string;
      try {
        const response = await fetch(`${url}/fhir/MedicationDispense`, {
          method: 'POST',
          headers: { 'content-type': 'application/fhir+json' },
          body: JSON.stringify(body),
          signal: AbortSignal.timeout(15_000),
        });
        await response.arrayBuffer();
        status = String(response.status);
      } catch (error) {
        status = error instanceof Error ? error.name : 'error';
      }
      if (status === '201') result.created += 1;
      else {
        result.failed += 1;
        await sleep(50);
      }
      result.statuses.set(status, (result.statuses.get(status) ?? 0) + 1);
    }
  };
  await Promise.all(Array.from({ length: options.concurrency }, worker));
  return result;
}

interface DispenseRow {
  id: string;
  medication_code: string | null;
  location_id: string | null;
  quantity: number | null;
  events: number;
}

interface MovementRow {
  message_id: string;
  kind: 'dispense' | 'delivery';
  reference_id: string;
  medication_code: string;
  location_id: string;
  quantity: number;
}

interface SupplierRow {
  purchase_order_id: string;
  reorder_id: string;
  medication_code: string;
  location_id: string;
  quantity: number;
  gtid: string;
  duplicate_receipts: number;
  delivery_id: string | null;
}

/** The processes that consume (and de-duplicate) messages. */
const CONSUMER_ROLES: readonly PharmacyRole[] = ['inventory', 'supply-chain', 'supplier'];

/** The services whose outboxes a run relays, with the name their messages carry as `source` (app id). */
const OUTBOX_SERVICES: readonly PharmacyServiceName[] = [
  'pharmacy',
  'pharmacy-inventory',
  'pharmacy-supply-chain',
  'pharmacy-supplier',
];

/**
 * Which outbox feeds which inbox: every message a producer's outbox holds must end in its consumer's inbox
 * (and the message server's delivered purchase orders in the supplier's).
 */
const FLOWS: readonly { from: PharmacyServiceName; type: string; to: keyof typeof PHARMACY_QUEUES }[] = [
  { from: 'pharmacy', type: PharmacyEvent.MedicationDispensed.type, to: 'dispenses' },
  { from: 'pharmacy-inventory', type: PharmacyEvent.StockLow.type, to: 'stockLow' },
  { from: 'pharmacy-supplier', type: PharmacyEvent.DeliveryShipped.type, to: 'deliveryShipped' },
  { from: 'pharmacy-supply-chain', type: PharmacyEvent.StockDelivered.type, to: 'deliveries' },
];

/** The fault-injection set-up: fresh databases and namespace, the pharmacy's processes, a connection to each database. */
export class OutboxFaultLab {
  private clients = new Map<PharmacyServiceName, Client>();
  private readonly results: OutboxTrialResult[] = [];
  private readonly reported = new Map<string, Finding>();
  private readonly runId = Date.now().toString(36);
  private readonly log: Log;
  private closing = false;

  private constructor(
    private readonly options: OutboxFaultLabOptions,
    readonly cluster: PharmacyCluster,
  ) {
    this.log = options.log ?? (() => undefined);
  }

  /** Re-creates the run's databases and namespace, seeds them, and starts the pharmacy's parts. */
  static async open(options: OutboxFaultLabOptions): Promise<OutboxFaultLab> {
    const log = options.log ?? (() => undefined);
    const cluster = new PharmacyCluster({
      suffix: options.suffix,
      namespace: options.namespace,
      portBase: options.portBase,
      env: { ...DEFAULT_OUTBOX_FAULT_ENV, ...options.env },
    });
    await cluster.assertPortsFree();
    await deleteNamespace(options.namespace);
    await recreatePharmacyDatabases(options.suffix, FAULT_STOCK, log);
    const lab = new OutboxFaultLab(options, cluster);
    try {
      lab.clients = await connectPharmacyDatabases(options.suffix);
      await cluster.startStanding();
      log(
        `pharmacy up (namespace ${options.namespace}): ${STANDING_ROLES.map((r) => `${r} ${cluster.url(r)}`).join(', ')}`,
      );
    } catch (error) {
      await lab.close();
      throw error;
    }
    return lab;
  }

  get trials(): readonly OutboxTrialResult[] {
    return this.results;
  }

  /** Every distinct finding of the run so far. */
  get findings(): readonly Finding[] {
    return [...this.reported.values()];
  }

  async close(): Promise<void> {
    this.closing = true;
    await this.cluster.stopAll();
    await Promise.all([...this.clients.values()].map((c) => c.end().catch(() => undefined)));
    this.clients.clear();
    await deleteNamespace(this.options.namespace).catch((error: unknown) =>
      this.log(`could not delete namespace ${this.options.namespace}: ${String(error)}`),
    );
  }

  private db(name: PharmacyServiceName): Client {
    const client = this.clients.get(name);
    if (!client) throw new Error(`no connection to ${name}'s database`);
    return client;
  }

  /** Rows of a query in one of the run's databases. */
  async rows<T extends object>(
    name: PharmacyServiceName,
    sql: string,
    parameters: unknown[] = [],
  ): Promise<T[]> {
    return (await this.db(name).query<T>(sql, parameters)).rows;
  }

  /** Runs SQL in one of the run's databases (the fault spec plants broken states with it). */
  async sql(name: PharmacyServiceName, sql: string, parameters: unknown[] = []): Promise<void> {
    await this.db(name).query(sql, parameters);
  }

  /** Restarts any standing process that is not running; returns a note for each one that had died. */
  private async ensureStandingUp(): Promise<string[]> {
    const notes: string[] = [];
    for (const role of STANDING_ROLES) {
      if (this.cluster.isRunning(role)) continue;
      const exit = this.cluster.forget(role);
      if (exit) notes.push(`${role} had exited (${describeExit(exit)}) outside its fault; restarted`);
      await this.cluster.start(role);
    }
    return notes;
  }

  async runTrial(plan: OutboxTrialPlan): Promise<OutboxTrialResult> {
    const began = Date.now();
    const definition = FAULTS[plan.fault];
    const loadMs = this.options.loadMs ?? 2_500;
    const result: OutboxTrialResult = {
      ...plan,
      victim: definition.kill?.role,
      injected: false,
      dispenses: 0,
      failedRequests: 0,
      purchaseOrders: 0,
      duplicatesInjected: 0,
      duplicatesAbsorbed: 0,
      seconds: 0,
      phases: {},
      notes: [],
      problems: [],
      findings: [],
      violations: 0,
      lost: 0,
      duplicated: 0,
      leftInDoubt: 0,
    };
    this.results.push(result);
    let phaseStart = Date.now();
    const phase = (name: string): void => {
      result.phases[name] = Date.now() - phaseStart;
      phaseStart = Date.now();
    };
    const crashes = await this.ensureStandingUp();
    const ordersBefore = await this.purchaseOrderCount();
    const duplicatesBefore = await this.duplicateCounts();

    // The victim is restarted with FAULT_KILL_AT and SIGKILLs itself at the point; once dead it is started
    // again without. A relay or consumer victim is stopped first and armed only once a backlog has built up,
    // so that its first batch is a full one.
    const kill = definition.kill;
    const backlogFirst = kill !== undefined && (kill.role === 'relay' || kill.role === 'inventory');
    let victim: ServiceProcess | undefined;
    let victimExit: ExitInfo | undefined;
    let restarted: Promise<void> | undefined;
    let disarming = false;
    const restart = (role: PharmacyRole): void => {
      restarted = this.cluster.start(role).then(
        () => undefined,
        (error: unknown) => {
          result.problems.push(`${role} did not come back after its kill: ${String(error)}`);
        },
      );
    };
    const arm = async (): Promise<void> => {
      if (!kill) return;
      try {
        victim = await this.cluster.start(kill.role, { FAULT_KILL_AT: kill.point });
      } catch (error) {
        // With a backlog waiting, a consumer reaches its point while it starts up.
        if (!(
          error instanceof ServiceStartError &&
          /exited during start-up \(killed by SIGKILL\)/.test(error.message)
        ))
          throw error;
        victimExit = { code: null, signal: 'SIGKILL', at: Date.now() };
        result.notes.push(`${kill.role} died at ${kill.point} while starting up`);
        restart(kill.role);
        return;
      }
      void victim.exited.then((exit) => {
        if (disarming || this.closing) return;
        victimExit = exit;
        this.cluster.forget(kill.role);
        restart(kill.role);
      });
    };
    if (kill) {
      await this.cluster.stop(kill.role);
      if (!backlogFirst) await arm();
    }
    const PUBLISHED = /^hospital_outbox_published_total(?:\{[^}]*\})? (\d+)/m;
    let relayPublishedBefore: number | undefined;
    if (plan.fault === 'two-relays') {
      await this.cluster.start('relay-2');
      relayPublishedBefore = await this.metric('relay', PUBLISHED);
    }
    phase('arm');

    const loadStart = Date.now();
    const minEnd = loadStart + loadMs;
    const maxEnd = minEnd + (this.options.victimTimeoutMs ?? 20_000);
    // The stream goes on until the armed victim died, and past the broker's return.
    let midLoadDone = false;
    const done = (): boolean =>
      Date.now() >= maxEnd ||
      (Date.now() >= minEnd && midLoadDone && (kill === undefined || victimExit !== undefined));
    const load = driveDispenses(this.cluster.url('dispensing'), FAULT_STOCK, {
      concurrency: this.options.concurrency ?? 4,
      ratePerSecond: this.options.ratePerSecond ?? 60,
      seed: plan.index + 1,
      tag: `${this.runId}-${plan.index}`,
      done,
    });
    const midLoad = (async (): Promise<void> => {
      if (backlogFirst) {
        await sleep(loadMs * 0.3);
        await arm();
      } else if (plan.fault === 'broker-restart') {
        await sleep(loadMs * 0.3);
        const stopped = Date.now();
        await stopService('rabbitmq', { log: this.log });
        await sleep(500);
        await startService('rabbitmq', { log: this.log });
        result.injected = true;
        result.notes.push(`RabbitMQ down for ${((Date.now() - stopped) / 1000).toFixed(1)} s`);
        await sleep(1_000);
      } else if (plan.fault === 'duplicates') {
        await sleep(loadMs * 0.5);
        result.duplicatesInjected += await this.injectDuplicates(15);
      }
    })().finally(() => {
      midLoadDone = true;
    });
    const [loaded] = await Promise.all([load, midLoad]);
    const loadEnd = Date.now();
    phase('load');
    result.dispenses = loaded.created;
    result.failedRequests = loaded.failed;
    if (loaded.failed > 0) {
      const statuses = [...loaded.statuses].filter(([s]) => s !== '201').map(([s, n]) => `${n}× ${s}`);
      result.notes.push(`dispense requests not answered 201: ${statuses.join(', ')}`);
    }
    if (plan.fault === 'duplicates') {
      // Again once the stream stopped: by now the first purchase orders and deliveries are delivered too.
      result.duplicatesInjected += await this.injectDuplicates(15);
      result.injected = result.duplicatesInjected > 0;
    }

    if (kill) {
      if (victimExit === undefined) {
        disarming = true;
        await this.cluster.stop(kill.role);
        await this.cluster.start(kill.role);
        result.problems.push(`${kill.role} never reached ${kill.point}: nothing injected`);
      } else {
        result.injected = victimExit.signal === 'SIGKILL';
        result.victimExit = describeExit(victimExit);
        if (!result.injected)
          result.problems.push(
            `${kill.role} exited with ${result.victimExit}, not at ${kill.point}${victim?.outputTail(5) ?? ''}`,
          );
        await restarted;
      }
    }
    phase('restart');

    const settle = await this.awaitQuiescence(this.options.settleTimeoutMs ?? 90_000);
    if (settle.quiet) result.settleMs = Date.now() - loadEnd;
    else
      result.problems.push(
        `not quiet ${Math.round((Date.now() - loadEnd) / 1000)} s after the load: ${settle.reason}`,
      );
    phase('settle');
    if (plan.fault === 'two-relays') {
      // Both relays must have published part of the stream for the trial to count.
      const [first, second] = await Promise.all([
        this.metric('relay', PUBLISHED),
        this.metric('relay-2', PUBLISHED),
      ]);
      const firstShare = first === undefined ? undefined : first - (relayPublishedBefore ?? 0);
      result.injected = (firstShare ?? 0) > 0 && (second ?? 0) > 0;
      result.notes.push(`messages published by relay: ${firstShare ?? '?'}, by relay-2: ${second ?? '?'}`);
      if (!result.injected) result.problems.push('the two relays did not both publish');
      await this.cluster.stop('relay-2');
    }
    result.duplicatesAbsorbed = await this.duplicatesSince(duplicatesBefore);

    const evaluation = await this.evaluate();
    const fresh = evaluation.findings.filter((f) => !this.reported.has(f.key));
    for (const [n, problem] of [...crashes, ...settle.crashes, ...result.problems].entries())
      fresh.push({ key: `trial:${plan.index}:${n}`, kind: 'violation', message: problem });
    if (!result.injected && result.problems.length === 0)
      fresh.push({
        key: `trial:${plan.index}:not-injected`,
        kind: 'violation',
        message: 'the fault was not injected',
      });
    for (const finding of fresh) this.reported.set(finding.key, finding);
    result.findings = fresh;
    result.violations = fresh.length;
    result.lost = fresh.filter((f) => f.kind === 'lost').length;
    result.duplicated = fresh.filter((f) => f.kind === 'duplicated').length;
    result.leftInDoubt = fresh.filter((f) => f.kind === 'in-doubt').length;
    result.purchaseOrders = (await this.purchaseOrderCount()) - ordersBefore;
    phase('check');
    result.seconds = (Date.now() - began) / 1000;
    return result;
  }

  /** The first number `pattern` captures in a process's `/metrics`, or undefined when it cannot be read. */
  private async metric(role: PharmacyRole, pattern: RegExp): Promise<number | undefined> {
    if (!this.cluster.isRunning(role)) return undefined;
    try {
      const response = await fetch(`${this.cluster.url(role)}/metrics`, {
        signal: AbortSignal.timeout(5_000),
      });
      const match = pattern.exec(await response.text());
      return match ? Number(match[1]) : undefined;
    } catch {
      return undefined;
    }
  }

  /** Per consumer process: its pid and how many deliveries its inbox has found to be duplicates. */
  private async duplicateCounts(): Promise<Map<PharmacyRole, { pid: number; count: number }>> {
    const counts = new Map<PharmacyRole, { pid: number; count: number }>();
    for (const role of CONSUMER_ROLES) {
      const process = this.cluster.get(role);
      if (!process?.alive) continue;
      const response = await fetch(`${this.cluster.url(role)}/metrics`, {
        signal: AbortSignal.timeout(5_000),
      })
        .then((r) => r.text())
        .catch(() => '');
      let count = 0;
      for (const match of response.matchAll(
        /^hospital_inbox_messages_total\{[^}]*disposition="duplicate"[^}]*\} (\d+)/gm,
      ))
        count += Number(match[1]);
      counts.set(role, { pid: process.pid, count });
    }
    return counts;
  }

  private async duplicatesSince(before: Map<PharmacyRole, { pid: number; count: number }>): Promise<number> {
    let total = 0;
    for (const [role, now] of await this.duplicateCounts()) {
      const then = before.get(role);
      total += then?.pid === now.pid ? now.count - then.count : now.count;
    }
    return total;
  }

  private async purchaseOrderCount(): Promise<number> {
    const [row] = await this.rows<{ n: number }>(
      'pharmacy-supply-chain',
      'SELECT count(*)::int AS n FROM supply_purchase_order',
    );
    return row.n;
  }

  /**
   * Publishes copies of already published events straight onto the broker — the same message id, type,
   * source and headers as the relay (or the message server) gave them — up to `perSource` from each
   * outbox and from the message server's delivered purchase orders. Returns how many went out.
   */
  async injectDuplicates(perSource: number): Promise<number> {
    const exchange = (name: string): string => `${this.cluster.namespace}.${name}`;
    const messages: RawMessage[] = [];
    const properties = (id: string, type: string, source: string, headers: Record<string, unknown>) => ({
      persistent: true,
      messageId: id,
      type,
      appId: source,
      contentType: 'application/json',
      timestamp: Math.floor(Date.now() / 1000),
      headers,
    });
    for (const service of OUTBOX_SERVICES) {
      const rows = await this.rows<{
        id: string;
        exchange: string;
        routing_key: string;
        type: string;
        gtid: string;
        aggregate_id: string;
        sequence: number;
        payload: unknown;
      }>(
        service,
        `SELECT id, exchange, routing_key, type, gtid, aggregate_id, sequence::int AS sequence, payload
           FROM tx_outbox WHERE published_at IS NOT NULL ORDER BY random() LIMIT $1`,
        [perSource],
      );
      for (const row of rows) {
        messages.push({
          exchange: exchange(row.exchange),
          routingKey: row.routing_key,
          content: Buffer.from(JSON.stringify(row.payload)),
          options: properties(row.id, row.type, service, {
            [MessageHeaders.gtid]: row.gtid,
            [MessageHeaders.aggregateId]: row.aggregate_id,
            [MessageHeaders.sequence]: row.sequence,
          }),
        });
      }
    }
    const orders = await this.rows<{
      message_id: string;
      gtid: string;
      producer: string;
      exchange: string;
      routing_key: string;
      type: string;
      aggregate_id: string;
      payload: unknown;
    }>(
      'pharmacy-messages',
      `SELECT message_id, gtid, producer, exchange, routing_key, type, aggregate_id, payload
         FROM tx_message WHERE state = 'delivered' ORDER BY random() LIMIT $1`,
      [perSource],
    );
    for (const row of orders) {
      messages.push({
        exchange: exchange(row.exchange),
        routingKey: row.routing_key,
        content: Buffer.from(JSON.stringify(row.payload)),
        options: properties(row.message_id, row.type, row.producer, {
          [MessageHeaders.gtid]: row.gtid,
          [MessageHeaders.aggregateId]: row.aggregate_id,
        }),
      });
    }
    await publishRaw(messages);
    return messages.length;
  }

  /**
   * Waits until the chain is quiet: every outbox drained, every outbox message in its consumer's inbox
   * (the message server's delivered purchase orders in the supplier's), no consumer queue holding ready
   * messages, no two-phase message prepared or submitted, no reorder open anywhere, nothing left to
   * ship — twice in a row. Processes that die meanwhile are restarted (and reported).
   */
  async awaitQuiescence(timeoutMs: number): Promise<{ quiet: boolean; reason: string; crashes: string[] }> {
    const deadline = Date.now() + timeoutMs;
    const crashes: string[] = [];
    let streak = 0;
    let reason = '';
    while (Date.now() < deadline) {
      crashes.push(...(await this.ensureStandingUp()));
      reason = await this.unquietReason().catch((error: unknown) => `cannot observe: ${String(error)}`);
      streak = reason === '' ? streak + 1 : 0;
      if (streak >= 2) return { quiet: true, reason, crashes };
      await sleep(300);
    }
    return { quiet: false, reason, crashes };
  }

  /** Why the chain is not quiet yet ('' when it is). */
  private async unquietReason(): Promise<string> {
    const reasons: string[] = [];
    const outbox = new Map<string, number>();
    for (const service of OUTBOX_SERVICES) {
      const rows = await this.rows<{ type: string; total: number; pending: number }>(
        service,
        `SELECT type, count(*)::int AS total, count(*) FILTER (WHERE published_at IS NULL)::int AS pending
           FROM tx_outbox GROUP BY type`,
      );
      for (const row of rows) {
        outbox.set(`${service}|${row.type}`, row.total);
        if (row.pending > 0) reasons.push(`${row.pending} ${row.type} unpublished in ${service}`);
      }
    }
    const inbox = new Map<string, number>();
    for (const service of ['pharmacy-inventory', 'pharmacy-supply-chain', 'pharmacy-supplier'] as const) {
      const rows = await this.rows<{ consumer: string; n: number }>(
        service,
        'SELECT consumer, count(*)::int AS n FROM tx_inbox GROUP BY consumer',
      );
      for (const row of rows) inbox.set(row.consumer, row.n);
    }
    for (const flow of FLOWS) {
      const sent = outbox.get(`${flow.from}|${flow.type}`) ?? 0;
      const seen = inbox.get(PHARMACY_QUEUES[flow.to].queue) ?? 0;
      if (seen < sent)
        reasons.push(`${sent - seen} ${flow.type} not in ${PHARMACY_QUEUES[flow.to].queue}'s inbox`);
    }
    const messages = await this.rows<{ state: string; n: number }>(
      'pharmacy-messages',
      'SELECT state, count(*)::int AS n FROM tx_message GROUP BY state',
    );
    const byState = new Map(messages.map((r) => [r.state, r.n]));
    for (const state of ['prepared', 'submitted'])
      if ((byState.get(state) ?? 0) > 0)
        reasons.push(`${byState.get(state)} purchase order message(s) ${state}`);
    const delivered = byState.get('delivered') ?? 0;
    const received = inbox.get(PHARMACY_QUEUES.purchaseOrders.queue) ?? 0;
    if (received < delivered)
      reasons.push(`${delivered - received} purchase order(s) not in the supplier's inbox`);
    const [open] = await this.rows<{ n: number }>(
      'pharmacy-inventory',
      `SELECT count(*)::int AS n FROM inventory_reorder WHERE status = 'open'`,
    );
    if (open.n > 0) reasons.push(`${open.n} reorder(s) open in inventory`);
    const [unordered] = await this.rows<{ n: number }>(
      'pharmacy-supply-chain',
      `SELECT count(*)::int AS n FROM supply_reorder WHERE state = 'open'`,
    );
    if (unordered.n > 0) reasons.push(`${unordered.n} reorder(s) without a purchase order`);
    const [unshipped] = await this.rows<{ n: number }>(
      'pharmacy-supplier',
      'SELECT count(*)::int AS n FROM supplier_purchase_order WHERE shipped_at IS NULL',
    );
    if (unshipped.n > 0) reasons.push(`${unshipped.n} order(s) not shipped`);
    if (reasons.length === 0) {
      for (const depth of await queueDepths(this.cluster.namespace))
        if (depth.ready > 0) reasons.push(`${depth.ready} message(s) ready in ${depth.queue}`);
    }
    return reasons.join('; ');
  }

  /** Checks every invariant on the databases as they stand (and the dead-letter queues). */
  async evaluate(): Promise<Evaluation> {
    const findings: Finding[] = [];
    const add = (kind: Finding['kind'], key: string, message: string): void => {
      findings.push({ kind, key, message });
    };

    // Committed dispenses, each with its one outbox event.
    const dispenses = await this.rows<DispenseRow>(
      'pharmacy',
      `SELECT r.id,
              (SELECT c->>'code' FROM jsonb_array_elements(r.content->'medicationCodeableConcept'->'coding') c
                WHERE c->>'system' = $1 LIMIT 1) AS medication_code,
              substring(r.content->'location'->>'reference' from '^Location/(.+)$') AS location_id,
              (r.content->'quantity'->>'value')::int AS quantity,
              coalesce(e.n, 0) AS events
         FROM fhir_resource r
         LEFT JOIN (SELECT payload->>'dispenseId' AS id, count(*)::int AS n FROM tx_outbox
                     WHERE type = $2 GROUP BY 1) e ON e.id = r.id
        WHERE r.resource_type = 'MedicationDispense' AND NOT r.deleted`,
      [RXNORM_SYSTEM, PharmacyEvent.MedicationDispensed.type],
    );
    const movements = await this.rows<MovementRow>(
      'pharmacy-inventory',
      `SELECT message_id, kind, reference_id, medication_code, location_id, quantity FROM inventory_movement`,
    );
    const applied = new Map<string, MovementRow[]>();
    for (const m of movements) {
      const key = `${m.kind}:${m.reference_id}`;
      applied.set(key, [...(applied.get(key) ?? []), m]);
    }
    const dispensed = new Map<string, number>();
    const dispenseIds = new Set<string>();
    for (const d of dispenses) {
      dispenseIds.add(d.id);
      const line = lineKey(d.medication_code ?? '?', d.location_id ?? '?');
      dispensed.set(line, (dispensed.get(line) ?? 0) + (d.quantity ?? 0));
      if (d.events === 0)
        add('lost', `dispense:${d.id}`, `dispense ${d.id} committed without its outbox event`);
      if (d.events > 1)
        add('duplicated', `dispense-event:${d.id}`, `dispense ${d.id} has ${d.events} outbox events`);
      const rows = applied.get(`dispense:${d.id}`) ?? [];
      if (rows.length === 0)
        add('lost', `dispense:${d.id}`, `dispense ${d.id} (${line}) never applied in inventory`);
      if (rows.length > 1)
        add('duplicated', `dispense:${d.id}`, `dispense ${d.id} applied ${rows.length} times in inventory`);
      for (const m of rows) {
        if (lineKey(m.medication_code, m.location_id) !== line || m.quantity !== d.quantity) {
          add(
            'violation',
            `dispense-mismatch:${d.id}`,
            `dispense ${d.id} (${d.quantity} of ${line}) applied as ${m.quantity} of ${lineKey(m.medication_code, m.location_id)}`,
          );
        }
      }
    }
    for (const m of movements) {
      if (m.kind === 'dispense' && !dispenseIds.has(m.reference_id))
        add(
          'violation',
          `phantom-dispense:${m.reference_id}`,
          `inventory applied unknown dispense ${m.reference_id}`,
        );
    }

    // What the supplier shipped, each delivery received once by the supply chain and applied once in inventory.
    const supplier = await this.rows<SupplierRow>(
      'pharmacy-supplier',
      `SELECT purchase_order_id, reorder_id, medication_code, location_id, quantity, gtid, duplicate_receipts,
              delivery_id
         FROM supplier_purchase_order`,
    );
    const orders = await this.rows<{
      purchase_order_id: string;
      reorder_id: string;
      gtid: string;
      status: string;
      delivery_id: string | null;
    }>(
      'pharmacy-supply-chain',
      'SELECT purchase_order_id, reorder_id, gtid, status, delivery_id FROM supply_purchase_order',
    );
    const orderByReorder = new Map(orders.map((o) => [o.reorder_id, o]));
    const orderById = new Map(orders.map((o) => [o.purchase_order_id, o]));
    const delivered = new Map<string, number>();
    const deliveryIds = new Set<string>();
    for (const s of supplier) {
      if (s.delivery_id === null) continue;
      deliveryIds.add(s.delivery_id);
      const line = lineKey(s.medication_code, s.location_id);
      delivered.set(line, (delivered.get(line) ?? 0) + s.quantity);
      const order = orderById.get(s.purchase_order_id);
      if (order?.status !== 'completed' || order.delivery_id !== s.delivery_id)
        add(
          'lost',
          `receipt:${s.delivery_id}`,
          `delivery ${s.delivery_id} of ${s.purchase_order_id} not received by the supply chain`,
        );
      const rows = applied.get(`delivery:${s.delivery_id}`) ?? [];
      if (rows.length === 0)
        add(
          'lost',
          `delivery:${s.delivery_id}`,
          `delivery ${s.delivery_id} (${s.quantity} of ${line}) never applied in inventory`,
        );
      if (rows.length > 1)
        add(
          'duplicated',
          `delivery:${s.delivery_id}`,
          `delivery ${s.delivery_id} applied ${rows.length} times in inventory`,
        );
    }
    for (const m of movements) {
      if (m.kind === 'delivery' && !deliveryIds.has(m.reference_id))
        add(
          'violation',
          `phantom-delivery:${m.reference_id}`,
          `inventory applied delivery ${m.reference_id} the supplier never shipped`,
        );
    }

    // Stock = initial − dispensed + delivered, for every drug at every location.
    const stock = await this.rows<{
      medication_code: string;
      location_id: string;
      initial_on_hand: number;
      on_hand: number;
    }>(
      'pharmacy-inventory',
      'SELECT medication_code, location_id, initial_on_hand, on_hand FROM inventory_stock',
    );
    const stocked = new Set<string>();
    for (const s of stock) {
      const line = lineKey(s.medication_code, s.location_id);
      stocked.add(line);
      const expected = s.initial_on_hand - (dispensed.get(line) ?? 0) + (delivered.get(line) ?? 0);
      if (s.on_hand !== expected) {
        add(
          'violation',
          `stock:${line}`,
          `${line}: on hand ${s.on_hand}, but initial ${s.initial_on_hand} − dispensed ${dispensed.get(line) ?? 0} + delivered ${delivered.get(line) ?? 0} = ${expected}`,
        );
      }
    }
    for (const line of [...dispensed.keys(), ...delivered.keys()])
      if (!stocked.has(line)) add('violation', `unstocked:${line}`, `${line} moved but is not a stock line`);
    for (const row of await this.rows<{
      medication_code: string;
      location_id: string;
      on_hand: number;
      expected: number;
    }>('pharmacy-inventory', STOCK_INVARIANT_VIOLATIONS_SQL)) {
      const line = lineKey(row.medication_code, row.location_id);
      add(
        'violation',
        `ledger:${line}`,
        `${line}: on hand ${row.on_hand} disagrees with the inventory's own ledger (${row.expected})`,
      );
    }

    // Every reorder: one purchase order at the supply chain, received once by the supplier, closed.
    const reorders = await this.rows<{
      reorder_id: string;
      status: string;
      medication_code: string;
      location_id: string;
    }>(
      'pharmacy-inventory',
      'SELECT reorder_id, status, medication_code, location_id FROM inventory_reorder',
    );
    const supplyReorders = new Set(
      (
        await this.rows<{ reorder_id: string }>(
          'pharmacy-supply-chain',
          'SELECT reorder_id FROM supply_reorder',
        )
      ).map((r) => r.reorder_id),
    );
    const supplierByReorder = new Map<string, SupplierRow[]>();
    for (const s of supplier)
      supplierByReorder.set(s.reorder_id, [...(supplierByReorder.get(s.reorder_id) ?? []), s]);
    const reorderIds = new Set<string>();
    for (const r of reorders) {
      reorderIds.add(r.reorder_id);
      const line = lineKey(r.medication_code, r.location_id);
      if (!supplyReorders.has(r.reorder_id))
        add(
          'lost',
          `reorder:${r.reorder_id}`,
          `reorder ${r.reorder_id} (${line}) never reached the supply chain`,
        );
      else if (!orderByReorder.has(r.reorder_id))
        add('lost', `reorder:${r.reorder_id}`, `reorder ${r.reorder_id} (${line}) has no purchase order`);
      const received = supplierByReorder.get(r.reorder_id) ?? [];
      if (orderByReorder.has(r.reorder_id) && received.length === 0)
        add(
          'lost',
          `order:${r.reorder_id}`,
          `purchase order of reorder ${r.reorder_id} (${line}) never reached the supplier`,
        );
      if (received.length > 1)
        add(
          'duplicated',
          `order:${r.reorder_id}`,
          `reorder ${r.reorder_id} reached the supplier as ${received.length} purchase orders`,
        );
      const repeats = received.reduce((n, s) => n + s.duplicate_receipts, 0);
      if (repeats > 0)
        add(
          'duplicated',
          `order-sent:${r.reorder_id}`,
          `purchase order of reorder ${r.reorder_id} sent to the supplier ${repeats + 1} times under different message ids`,
        );
      if (r.status !== 'closed')
        add('violation', `reorder-open:${r.reorder_id}`, `reorder ${r.reorder_id} (${line}) is still open`);
    }
    for (const id of supplyReorders)
      if (!reorderIds.has(id))
        add(
          'violation',
          `phantom-reorder:${id}`,
          `supply chain holds reorder ${id} that inventory never opened`,
        );

    // Two-phase messages: none left prepared or submitted; delivered exactly when the local transaction committed.
    const messages = await this.rows<{ gtid: string; state: string }>(
      'pharmacy-messages',
      'SELECT gtid, state FROM tx_message',
    );
    const committed = new Set(orders.map((o) => o.gtid));
    let inDoubt = 0;
    const messageState = new Map(messages.map((m) => [m.gtid, m.state]));
    for (const m of messages) {
      if (m.state === 'prepared' || m.state === 'submitted') {
        inDoubt += 1;
        add('in-doubt', `message:${m.gtid}`, `two-phase message ${m.gtid} left ${m.state}`);
      }
      if (m.state === 'delivered' && !committed.has(m.gtid))
        add(
          'violation',
          `uncommitted-delivered:${m.gtid}`,
          `message ${m.gtid} delivered but no purchase order committed with it`,
        );
    }
    for (const o of orders) {
      const state = messageState.get(o.gtid);
      if (state === 'aborted' || state === undefined)
        add(
          'lost',
          `order-message:${o.gtid}`,
          `purchase order ${o.purchase_order_id} committed but its message is ${state ?? 'unknown to the server'}`,
        );
    }

    // Nothing dead-lettered.
    for (const service of ['pharmacy-inventory', 'pharmacy-supply-chain', 'pharmacy-supplier'] as const) {
      for (const row of await this.rows<{ consumer: string; message_id: string; reason: string | null }>(
        service,
        `SELECT consumer, message_id, reason FROM tx_inbox WHERE outcome = 'dead-lettered'`,
      )) {
        add(
          'violation',
          `dead-lettered:${row.consumer}:${row.message_id}`,
          `${row.consumer} dead-lettered ${row.message_id}: ${row.reason ?? ''}`,
        );
      }
    }
    const depths = await queueDepths(this.cluster.namespace).catch(() => undefined);
    for (const depth of depths ?? [])
      if (depth.deadLetters > 0)
        add(
          'violation',
          `dead-letter-queue:${depth.queue}`,
          `${depth.deadLetters} message(s) in ${depth.queue}'s dead-letter queue`,
        );

    return {
      findings,
      dispenses: dispenses.length,
      purchaseOrders: orders.length,
      deliveries: deliveryIds.size,
      inDoubt,
    };
  }
}

export interface FaultKindSummary {
  trials: number;
  violations: number;
  lost: number;
  duplicated: number;
  not_injected: number;
  seconds_max: number;
}

export interface OutboxFaultSummary {
  scenario: 'outbox';
  trials: number;
  violations: number;
  lost: number;
  duplicated: number;
  left_in_doubt: number;
  not_injected: number;
  /** Totals over the run, from the databases. */
  dispenses: number;
  purchase_orders: number;
  deliveries: number;
  duplicates_injected: number;
  /** Redeliveries the consumers' inboxes absorbed (a lower bound, from their metrics). */
  duplicates_absorbed: number;
  faults: Partial<Record<FaultKind, FaultKindSummary>>;
}

export function summarizeOutbox(
  results: readonly OutboxTrialResult[],
  totals: Evaluation,
): OutboxFaultSummary {
  const faults: Partial<Record<FaultKind, FaultKindSummary>> = {};
  for (const t of results) {
    const f = (faults[t.fault] ??= {
      trials: 0,
      violations: 0,
      lost: 0,
      duplicated: 0,
      not_injected: 0,
      seconds_max: 0,
    });
    f.trials += 1;
    f.violations += t.violations;
    f.lost += t.lost;
    f.duplicated += t.duplicated;
    if (!t.injected) f.not_injected += 1;
    f.seconds_max = Math.max(f.seconds_max, Math.round(t.seconds * 10) / 10);
  }
  const sum = (pick: (t: OutboxTrialResult) => number): number => results.reduce((n, t) => n + pick(t), 0);
  return {
    scenario: 'outbox',
    trials: results.length,
    violations: sum((t) => t.violations),
    lost: sum((t) => t.lost),
    duplicated: sum((t) => t.duplicated),
    left_in_doubt: sum((t) => t.leftInDoubt),
    not_injected: results.filter((t) => !t.injected).length,
    dispenses: totals.dispenses,
    purchase_orders: totals.purchaseOrders,
    deliveries: totals.deliveries,
    duplicates_injected: sum((t) => t.duplicatesInjected),
    duplicates_absorbed: sum((t) => t.duplicatesAbsorbed),
    faults,
  };
}

/** True when every invariant held in every trial and every fault was really injected. */
export function outboxPassed(summary: OutboxFaultSummary): boolean {
  return summary.trials > 0 && summary.violations === 0 && summary.not_injected === 0;
}
