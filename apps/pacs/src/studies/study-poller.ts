import { readdir } from 'node:fs/promises';
import type { Logger } from 'pino';
import type { WorklistFolder } from '../worklist/worklist-folder';
import type { OrthancClient } from './orthanc-client';
import type { StudyIntake, StudyOutcome } from './study-intake';

export interface StudyPollerOptions {
  /** Pause between rounds while the feed has nothing new. */
  pollMs: number;
  /** Longest pause between attempts while the archive does not answer (the pause doubles up to it). */
  maxBackoffMs: number;
  /** How often open orders are looked up in the archive by their study (a study the feed never announced). */
  sweepMs?: number;
}

/** Open orders looked up in one sweep, oldest first. */
const SWEEP_LIMIT = 50;

/** What the poller counts, for metrics. */
export interface StudyPollerObserver {
  studyOutcome(outcome: StudyOutcome): void;
  archiveFailure(): void;
}

/**
 * Reads the archive's change feed from the cursor kept in the PACS's database and hands each stable study
 * to the intake, one change at a time in feed order; moves the cursor past other changes; takes the
 * worklist entries of completed orders off the worklist; and now and then looks up the studies of open
 * orders, for a study the feed never announced. While the archive is down or restarting it
 * retries with a doubling pause: the cursor only moves with what was applied, so nothing is missed.
 */
export class StudyPoller {
  private running = false;
  private loop?: Promise<void>;
  private wake?: () => void;
  /** Rounds failed in a row (0 while the archive answers). */
  failures = 0;
  private lastSweep = 0;

  constructor(
    private readonly archive: OrthancClient,
    private readonly intake: StudyIntake,
    private readonly worklist: WorklistFolder,
    private readonly options: StudyPollerOptions,
    private readonly observer: StudyPollerObserver,
    private readonly logger: Pick<Logger, 'info' | 'warn'>,
  ) {}

  start(): void {
    if (this.running) return;
    this.running = true;
    this.loop = this.run();
  }

  async stop(): Promise<void> {
    this.running = false;
    this.wake?.();
    await this.loop;
  }

  private async run(): Promise<void> {
    while (this.running) {
      let more = false;
      try {
        more = await this.round();
        this.failures = 0;
      } catch (error) {
        this.failures += 1;
        this.observer.archiveFailure();
        this.logger.warn(
          { failures: this.failures, error: (error as Error).message },
          'imaging archive round failed; retrying',
        );
      }
      const pause =
        this.failures === 0
          ? more
            ? 0
            : this.options.pollMs
          : Math.min(this.options.maxBackoffMs, this.options.pollMs * 2 ** Math.min(this.failures, 16));
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, pause);
        this.wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
  }

  /** One page of the feed; true when the feed has more after it. */
  async round(): Promise<boolean> {
    let since = await this.intake.cursor();
    let page = await this.archive.changes(since);
    if (page.last < since) {
      // The archive's feed starts again below the cursor: its database was replaced. Reading it again
      // from the start is harmless (studies already applied change nothing).
      this.logger.warn({ cursor: since, last: page.last }, 'imaging archive change feed restarted');
      await this.intake.rewind(0);
      since = 0;
      page = await this.archive.changes(since);
    }
    for (const change of page.changes) {
      if (!this.running && this.loop !== undefined) return false;
      if (change.changeType !== 'StableStudy') continue;
      const uid = await this.archive.studyInstanceUid(change.id);
      const study = uid === undefined ? undefined : await this.archive.study(uid);
      const series = study === undefined || uid === undefined ? [] : await this.archive.series(uid);
      const outcome = await this.intake.apply({ seq: change.seq, study, series });
      this.observer.studyOutcome(outcome);
      if (outcome.kind === 'applied' || outcome.kind === 'skipped') {
        this.logger.info({ seq: change.seq, outcome: outcome.kind }, 'imaging study reported');
      }
      if (outcome.kind === 'applied') await this.worklist.remove(outcome.accessionNumber);
    }
    await this.intake.advance(page.last);
    if (page.done) await this.sweepOpenOrders();
    await this.sweepWorklist();
    return !page.done;
  }

  /**
   * Looks up open orders' studies in the archive, every `sweepMs`: a study stored within the archive's
   * stable age before it restarted is never announced StableStudy by the feed, yet the archive holds it
   * and counts it stable once up again. One that is stable is applied as the feed would have.
   */
  private async sweepOpenOrders(): Promise<void> {
    const every = this.options.sweepMs ?? this.options.pollMs * 10;
    if (Date.now() - this.lastSweep < every) return;
    this.lastSweep = Date.now();
    for (const order of await this.intake.openOrders(every, SWEEP_LIMIT)) {
      if (!(await this.archive.studyIsStable(order.studyInstanceUid))) continue;
      const study = await this.archive.study(order.studyInstanceUid);
      const series = study === undefined ? [] : await this.archive.series(order.studyInstanceUid);
      const outcome = await this.intake.applyFound({ study, series });
      this.observer.studyOutcome(outcome);
      if (outcome.kind === 'applied') {
        this.logger.info({ outcome: outcome.kind }, 'imaging study found by the open-order sweep');
        await this.worklist.remove(outcome.accessionNumber);
      }
    }
  }

  /** Removes the entries of completed orders still on the worklist (a removal interrupted by a crash). */
  private async sweepWorklist(): Promise<void> {
    const files = await readdir(this.worklist.dir).catch(() => [] as string[]);
    const accessions = files.filter((f) => /^[A-Za-z0-9]{1,16}\.wl$/.test(f)).map((f) => f.slice(0, -3));
    for (const accession of await this.intake.completedAmong(accessions)) {
      await this.worklist.remove(accession);
    }
  }
}
