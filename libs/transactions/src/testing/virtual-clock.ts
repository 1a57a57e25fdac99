import { Clock } from '../core/clock';

/** Something that can die, taking its pending timers with it (a node incarnation). */
export interface TimerOwner {
  readonly alive: boolean;
}

interface Timer {
  at: number;
  seq: number;
  owner?: TimerOwner;
  resolve: () => void;
}

/**
 * Simulated time. `sleep` never waits for real: timers fire only when the test advances the clock, in
 * (due time, creation) order, so time-outs are deterministic and instant.
 */
export class VirtualClock implements Clock {
  private time: number;
  private seq = 0;
  private timers: Timer[] = [];

  constructor(start: number = Date.UTC(2026, 0, 1)) {
    this.time = start;
  }

  now(): number {
    return this.time;
  }

  sleep(ms: number): Promise<void> {
    return this.schedule(ms);
  }

  /** A view of this clock whose timers never fire once `owner` is dead (a crashed node's sleeps). */
  forOwner(owner: TimerOwner): Clock {
    return { now: () => this.time, sleep: (ms) => this.schedule(ms, owner) };
  }

  /** Due time of the earliest live timer. */
  nextTimerAt(): number | undefined {
    this.dropDead();
    let next: number | undefined;
    for (const timer of this.timers) if (next === undefined || timer.at < next) next = timer.at;
    return next;
  }

  pendingTimers(): number {
    this.dropDead();
    return this.timers.length;
  }

  /** Moves time forward by `ms`, firing every timer due by then. Returns how many fired. */
  advance(ms: number): number {
    return this.advanceTo(this.time + Math.max(0, ms));
  }

  /** Moves time to `instant` (never backwards), firing every timer due by then in order. */
  advanceTo(instant: number): number {
    this.dropDead();
    const due = this.timers.filter((t) => t.at <= instant).sort((a, b) => a.at - b.at || a.seq - b.seq);
    this.timers = this.timers.filter((t) => t.at > instant);
    this.time = Math.max(this.time, instant);
    for (const timer of due) timer.resolve();
    return due.length;
  }

  /** Jumps to the earliest pending timer and fires everything due then; false when none is pending. */
  fireNext(): boolean {
    const next = this.nextTimerAt();
    if (next === undefined) return false;
    this.advanceTo(next);
    return true;
  }

  private schedule(ms: number, owner?: TimerOwner): Promise<void> {
    if (owner && !owner.alive) return new Promise<void>(() => undefined);
    return new Promise<void>((resolve) => {
      this.timers.push({ at: this.time + Math.max(0, ms), seq: this.seq++, owner, resolve });
    });
  }

  private dropDead(): void {
    if (this.timers.some((t) => t.owner && !t.owner.alive)) {
      this.timers = this.timers.filter((t) => !t.owner || t.owner.alive);
    }
  }
}
