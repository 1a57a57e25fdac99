// Fault trials of the pharmacy's dispensing → inventory → supply-chain → supplier chain: a transactional
// outbox and inbox over RabbitMQ, and purchase orders as two-phase messages. One trial drives concurrent
// dispenses over HTTP for a few seconds while one real fault is injected — a SIGKILL at a protocol point
// (relay, consumer, two-phase producer, message server), RabbitMQ stopped and started with its own
// commands, duplicates of delivered events published on the broker, two relays at once — then lets
// everything settle and checks the invariants of DESIGN.md section 3 directly in the five databases.
// Used by `npm run faults -- outbox` (scripts/faults.ts) and apps/pharmacy/test/outbox.fault-spec.ts.
import { Client } from 'pg';
import { MessageHeaders } from '@hospital/transactions/adapters/rabbitmq/rabbitmq-connection';
import { startService, stopService } from '../infra/index';
import type { PharmacyServiceName } from '../services';
import type { Log } from './bench-cluster';
import {
  CONSUMER_ROLES,
  evaluateOutboxInvariants,
  OUTBOX_SERVICES,
  unquietReason,
} from './faults-outbox-invariants';
import { driveDispenses, sleep } from './faults-outbox-load';
import {
  DEFAULT_OUTBOX_FAULT_ENV,
  Evaluation,
  FAULT_STOCK,
  FAULTS,
  Finding,
  OutboxFaultLabOptions,
  OutboxTrialPlan,
  OutboxTrialResult,
} from './faults-outbox-plan';
import {
  connectPharmacyDatabases,
  deleteNamespace,
  PharmacyCluster,
  PharmacyRole,
  publishRaw,
  RawMessage,
  recreatePharmacyDatabases,
  STANDING_ROLES,
} from './pharmacy-cluster';
import { describeExit, ExitInfo, ServiceProcess, ServiceStartError } from './service-process';
import { freshTrialRecord, phaseClock } from './faults-report';

export * from './faults-outbox-plan';

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
      ...freshTrialRecord(),
      leftInDoubt: 0,
    };
    this.results.push(result);
    const phase = phaseClock(result.phases);
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
    return unquietReason((name, sql, parameters) => this.rows(name, sql, parameters), this.cluster.namespace);
  }

  /** Checks every invariant on the databases as they stand (and the dead-letter queues). */
  async evaluate(): Promise<Evaluation> {
    return evaluateOutboxInvariants(
      (name, sql, parameters) => this.rows(name, sql, parameters),
      this.cluster.namespace,
    );
  }
}
