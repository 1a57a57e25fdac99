import fc from 'fast-check';
import { replayParameters } from '../testing/fast-check-replay';
import {
  QuotaSagaLease,
  QuotaSagaLeaseLostError,
  QuotaSagaLog,
  QuotaSagaRecord,
  QuotaSagaStep,
} from '../ports/quota-cache.ports';
import { QuotaParticipant, QuotaSagaCoordinator, QuotaSagaHooks } from './quota-saga';

/**
 * Property-based spec of the quota-cached saga's orchestrator: the real `QuotaSagaCoordinator` in two
 * replicas over an in-memory log and in-memory quota caches, running sagas side by side under random
 * schedules (fast-check's scheduler answers every log write and participant call in any order), with
 * reservations refused, participants failing transiently, orchestrators dying at any protocol point, and
 * recovery racing the live path once leases run out.
 *
 * Checked once everything settled: every saga is completed or aborted in the log, its caller's completion
 * or revocation written exactly once and agreeing with the log; a completed saga's every reservation is
 * held in its cache, an aborted one's none reserved or held; and every cache's units add up — free plus
 * reserved plus held is what it was lent, never below zero.
 */

class Crash extends Error {}

interface Reservation {
  units: number;
  state: 'reserved' | 'held';
}

/** A participant's quota cache as the Lua scripts keep it: free units, reservations, tombstones. */
class MemoryQuota implements QuotaParticipant {
  free: number;
  readonly reservations = new Map<string, Reservation>();
  readonly tombstones = new Set<string>();
  /** Calls that fail transiently before answering (counted down). */
  flaky = 0;

  constructor(
    readonly lent: number,
    private readonly s: fc.Scheduler,
  ) {
    this.free = lent;
  }

  private call<T>(label: string, work: () => T): Promise<T> {
    return this.s.schedule(Promise.resolve(), label).then(() => {
      if (this.flaky > 0) {
        this.flaky--;
        throw new Error('participant unavailable');
      }
      return work();
    });
  }

  reserve(r: { key: string; units: number }) {
    return this.call(`reserve ${r.key}`, () => {
      if (this.tombstones.has(r.key)) return { outcome: 'refused' as const, reason: 'released' };
      if (this.reservations.has(r.key)) return { outcome: 'reserved' as const, epoch: 'e' };
      if (this.free < r.units) return { outcome: 'refused' as const, reason: 'insufficient' };
      this.free -= r.units;
      this.reservations.set(r.key, { units: r.units, state: 'reserved' });
      return { outcome: 'reserved' as const, epoch: 'e' };
    });
  }

  hold(r: { key: string }) {
    return this.call(`hold ${r.key}`, () => {
      const found = this.reservations.get(r.key);
      if (!found) return 'refused' as const;
      found.state = 'held';
      return 'held' as const;
    });
  }

  release(r: { key: string }) {
    return this.call(`release ${r.key}`, () => {
      const found = this.reservations.get(r.key);
      if (found) this.free += found.units;
      this.reservations.delete(r.key);
      this.tombstones.add(r.key);
    });
  }
}

interface Row {
  record: QuotaSagaRecord;
  token?: string;
  leaseUntil: number;
}

/** The log in memory: each write atomic, fenced by the token, answered when the scheduler says. */
class MemoryLog implements QuotaSagaLog<Map<string, string>> {
  readonly rows = new Map<string, Row>();
  /** The caller's own records (the plan's status), written in the log's transactions. */
  readonly plans = new Map<string, string>();
  readonly planWrites = new Map<string, number>();
  now = 0;
  private tokens = 0;

  constructor(private readonly s: fc.Scheduler) {}

  private async atomically(label: string, work: (tx: Map<string, string>) => Promise<void>) {
    await this.s.schedule(Promise.resolve(), label);
    const tx = new Map<string, string>();
    await work(tx);
    for (const [gtid, status] of tx) {
      this.plans.set(gtid, status);
      this.planWrites.set(gtid, (this.planWrites.get(gtid) ?? 0) + 1);
    }
  }

  async begin(
    saga: Omit<QuotaSagaRecord, 'state' | 'reason'>,
    _owner: string,
    leaseMs: number,
    work: (tx: Map<string, string>) => Promise<void>,
  ): Promise<QuotaSagaLease> {
    const token = `t${++this.tokens}`;
    await this.atomically(`begin ${saga.gtid}`, async (tx) => {
      await work(tx);
      this.rows.set(saga.gtid, {
        record: { ...saga, state: 'running' },
        token,
        leaseUntil: this.now + leaseMs,
      });
    });
    return { gtid: saga.gtid, token };
  }

  async finish(
    lease: QuotaSagaLease,
    outcome: 'completed' | 'aborted',
    reason: string | undefined,
    work: (tx: Map<string, string>) => Promise<void>,
  ): Promise<void> {
    await this.atomically(`finish ${lease.gtid} ${outcome}`, async (tx) => {
      const row = this.rows.get(lease.gtid);
      if (!row || row.token !== lease.token || row.record.state !== 'running')
        throw new QuotaSagaLeaseLostError(lease.gtid);
      await work(tx);
      row.record = { ...row.record, state: outcome, ...(reason ? { reason } : {}) };
      row.token = undefined;
    });
  }

  async claimUnfinished(_owner: string, limit: number, leaseMs: number) {
    await this.s.schedule(Promise.resolve(), 'claim');
    const claimed: { lease: QuotaSagaLease; saga: QuotaSagaRecord }[] = [];
    for (const [gtid, row] of this.rows) {
      if (claimed.length >= limit) break;
      if (row.record.state !== 'running' || row.leaseUntil > this.now) continue;
      row.token = `t${++this.tokens}`;
      row.leaseUntil = this.now + leaseMs;
      claimed.push({ lease: { gtid, token: row.token }, saga: row.record });
    }
    return claimed;
  }

  get(gtid: string) {
    return Promise.resolve(this.rows.get(gtid)?.record);
  }
}

const POINTS = [
  'quota-saga.coordinator.after-begin',
  'quota-saga.coordinator.after-reserve',
  'quota-saga.coordinator.after-hold',
] as const;

const sagaPlan = fc.record({
  units: fc.array(fc.integer({ min: 1, max: 3 }), { minLength: 1, maxLength: 3 }),
  crashAt: fc.option(fc.constantFrom(...POINTS), { nil: undefined }),
  replica: fc.integer({ min: 0, max: 1 }),
});

describe('quota-cached saga orchestrator under random schedules', () => {
  it('ends every saga completed with its reservations held, or aborted with none left, units accounted', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.scheduler(),
        fc.array(sagaPlan, { minLength: 1, maxLength: 6 }),
        fc.array(fc.integer({ min: 1, max: 8 }), { minLength: 3, maxLength: 3 }),
        fc.integer({ min: 0, max: 3 }),
        async (s, plans, lent, flaky) => {
          const caches = lent.map((units) => new MemoryQuota(units, s));
          caches[0].flaky = flaky;
          const participants = { consults: caches[0], pacs: caches[1], pharmacy: caches[2] };
          const names = Object.keys(participants) as (keyof typeof participants)[];
          const log = new MemoryLog(s);
          const hooks: QuotaSagaHooks<Map<string, string>> = {
            started: (tx, saga) => Promise.resolve(void tx.set(saga.gtid, 'draft')),
            completed: (tx, saga) => Promise.resolve(void tx.set(saga.gtid, 'active')),
            aborted: (tx, saga) => Promise.resolve(void tx.set(saga.gtid, 'revoked')),
          };
          const coordinator = (name: string, crashAt?: string) =>
            new QuotaSagaCoordinator(log, participants, hooks, {
              name,
              leaseMs: 100,
              attempts: 2,
              retryMs: 0,
              points: (point) => {
                if (point === crashAt) throw new Crash(point);
              },
            });
          const sagas = plans.map((plan, i) => ({
            gtid: `g${i}`,
            input: {},
            steps: plan.units.map((units, j): QuotaSagaStep => ({
              participant: names[j],
              step: names[j],
              resource: `r${j}`,
              units,
            })),
            crashAt: plan.crashAt,
            replica: plan.replica,
          }));
          const answers = new Map<string, string>();
          const runs = sagas.map(({ crashAt, replica, ...saga }) =>
            coordinator(`replica-${replica}`, crashAt)
              .run(saga)
              .then(
                (result) => void answers.set(saga.gtid, result.outcome),
                (error: unknown) =>
                  void answers.set(saga.gtid, error instanceof Crash ? 'crashed' : 'unfinished'),
              ),
          );
          // Recovery racing the live path: leases run out while sagas are still under way.
          const recovery = (async () => {
            for (let round = 0; round < 3; round++) {
              await s.schedule(Promise.resolve(), `time passes ${round}`);
              log.now += 60;
              await coordinator('recovery').recover();
            }
          })();
          await s.waitFor(Promise.all([...runs, recovery]));
          // Heal: time past every lease, recovery until nothing is left running.
          for (let round = 0; round < 5; round++) {
            log.now += 1_000;
            const sweep = coordinator('recovery').recover();
            await s.waitFor(sweep);
          }
          await s.waitIdle();

          for (const saga of sagas) {
            const row = log.rows.get(saga.gtid);
            const plan = log.plans.get(saga.gtid);
            expect(row?.record.state).toMatch(/^(completed|aborted)$/);
            expect(log.planWrites.get(saga.gtid)).toBe(2);
            expect(plan).toBe(row?.record.state === 'completed' ? 'active' : 'revoked');
            const answer = answers.get(saga.gtid);
            if (answer === 'completed' || answer === 'aborted') expect(answer).toBe(row?.record.state);
            for (const step of saga.steps) {
              const cache = participants[step.participant as keyof typeof participants];
              const reservation = cache.reservations.get(`${saga.gtid}:${step.step}`);
              if (row?.record.state === 'completed')
                expect(reservation).toEqual({ units: step.units, state: 'held' });
              else expect(reservation).toBeUndefined();
            }
          }
          for (const cache of caches) {
            const reserved = [...cache.reservations.values()].reduce((sum, r) => sum + r.units, 0);
            expect(cache.free).toBeGreaterThanOrEqual(0);
            expect(cache.free + reserved).toBe(cache.lent);
          }
        },
      ),
      { numRuns: 200, ...replayParameters() },
    );
  }, 120_000);
});
