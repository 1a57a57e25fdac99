import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { WorklistFolder } from '../worklist/worklist-folder';
import { ArchiveUnavailableError, type ChangePage, type OrthancClient } from './orthanc-client';
import type { ReportedStudy, StudyIntake, StudyOutcome } from './study-intake';
import { StudyPoller } from './study-poller';

/** An archive whose feed the spec writes, and which fails while `down`. */
class FakeArchive {
  down = false;
  feed: { seq: number; changeType: string; id: string }[] = [];
  private check(): void {
    if (this.down) throw new ArchiveUnavailableError('archive unreachable');
  }
  changes(since: number, limit = 100): Promise<ChangePage> {
    this.check();
    const changes = this.feed.filter((c) => c.seq > since).slice(0, limit);
    const last = changes.at(-1)?.seq ?? Math.max(0, ...this.feed.map((c) => c.seq));
    return Promise.resolve({ changes, last, done: changes.length < limit });
  }
  studyInstanceUid(id: string): Promise<string | undefined> {
    this.check();
    return Promise.resolve(`2.25.${id}`);
  }
  study(uid: string) {
    this.check();
    return Promise.resolve({ '0020000D': { vr: 'UI', Value: [uid] } });
  }
  series() {
    this.check();
    return Promise.resolve([]);
  }
  /** Studies held and counted stable, though the feed never announced them (stored before a restart). */
  unannounced = new Set<string>();
  studyIsStable(uid: string): Promise<boolean> {
    this.check();
    return Promise.resolve(this.unannounced.has(uid));
  }
}

/** The intake's cursor and decisions, in memory: each study UID applied once. */
class FakeIntake {
  lastChange = 0;
  applied: string[] = [];
  completed = new Set<string>();
  cursor = () => Promise.resolve(this.lastChange);
  advance = (seq: number) => {
    this.lastChange = Math.max(this.lastChange, seq);
    return Promise.resolve();
  };
  rewind = (seq: number) => {
    this.lastChange = seq;
    return Promise.resolve();
  };
  apply = (reported: ReportedStudy): Promise<StudyOutcome> => {
    if (reported.seq <= this.lastChange) return Promise.resolve({ kind: 'behind' });
    this.lastChange = reported.seq;
    return this.applyFound(reported);
  };
  completedAmong = (accessions: readonly string[]) =>
    Promise.resolve(accessions.filter((a) => this.completed.has(a)));
  /** Open orders: accession `A<n>` with study `2.25.<n>`. */
  open: string[] = [];
  openOrders = () =>
    Promise.resolve(
      this.open
        .filter((n) => !this.completed.has(`A${n}`))
        .map((n) => ({ accessionNumber: `A${n}`, studyInstanceUid: `2.25.${n}` })),
    );
  applyFound = (found: Omit<ReportedStudy, 'seq'>): Promise<StudyOutcome> => {
    const uid = String(found.study?.['0020000D']?.Value?.[0]);
    const accessionNumber = `A${uid.split('.').pop()}`;
    if (this.completed.has(accessionNumber))
      return Promise.resolve({ kind: 'already-applied', accessionNumber });
    this.completed.add(accessionNumber);
    this.applied.push(uid);
    return Promise.resolve({ kind: 'applied', accessionNumber, imagingStudyId: uid });
  };
}

describe('studies poller', () => {
  let dir: string;
  let archive: FakeArchive;
  let intake: FakeIntake;
  let poller: StudyPoller;

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'worklist-'));
    archive = new FakeArchive();
    intake = new FakeIntake();
    poller = new StudyPoller(
      archive as unknown as OrthancClient,
      intake as unknown as StudyIntake,
      new WorklistFolder(dir),
      { pollMs: 10, maxBackoffMs: 100 },
      { studyOutcome: () => undefined, archiveFailure: () => undefined },
      { info: () => undefined, warn: () => undefined } as never,
    );
  });

  afterEach(() => rm(dir, { recursive: true, force: true }));

  it('applies stable studies in feed order, moves past other changes, and removes completed entries', async () => {
    await writeFile(join(dir, 'A1.wl'), 'x');
    await writeFile(join(dir, 'A2.wl'), 'x');
    archive.feed = [
      { seq: 1, changeType: 'NewInstance', id: 'i' },
      { seq: 2, changeType: 'StableStudy', id: '1' },
      { seq: 3, changeType: 'StablePatient', id: 'p' },
    ];
    expect(await poller.round()).toBe(false);
    expect(intake.applied).toEqual(['2.25.1']);
    expect(intake.lastChange).toBe(3);
    expect(await readdir(dir)).toEqual(['A2.wl']);
  });

  it('keeps the cursor while the archive is down, and misses nothing once it is back', async () => {
    archive.feed = [{ seq: 5, changeType: 'StableStudy', id: '7' }];
    archive.down = true;
    await expect(poller.round()).rejects.toThrow(ArchiveUnavailableError);
    expect(intake.lastChange).toBe(0);
    archive.down = false;
    await poller.round();
    expect(intake.applied).toEqual(['2.25.7']);
  });

  it('reads a restarted feed again from the start, applying nothing twice', async () => {
    archive.feed = [{ seq: 1, changeType: 'StableStudy', id: '1' }];
    await poller.round();
    intake.lastChange = 40; // the archive's database was replaced: its feed is far below the cursor
    archive.feed = [
      { seq: 1, changeType: 'StableStudy', id: '1' },
      { seq: 2, changeType: 'StableStudy', id: '2' },
    ];
    await poller.round();
    expect(intake.applied).toEqual(['2.25.1', '2.25.2']);
    expect(intake.lastChange).toBe(2);
  });

  it('retries with back-off in its loop and stops when asked', async () => {
    archive.feed = [{ seq: 1, changeType: 'StableStudy', id: '3' }];
    archive.down = true;
    poller.start();
    while (poller.failures < 2) await new Promise((resolve) => setTimeout(resolve, 5));
    archive.down = false;
    while (intake.applied.length === 0) await new Promise((resolve) => setTimeout(resolve, 5));
    await poller.stop();
    expect(intake.applied).toEqual(['2.25.3']);
    expect(poller.failures).toBe(0);
  });

  it('finds a stable study the feed never announced by sweeping open orders, once', async () => {
    await writeFile(join(dir, 'A9.wl'), 'x');
    intake.open = ['8', '9'];
    archive.unannounced.add('2.25.9'); // stored just before the archive restarted: no StableStudy change
    expect(await poller.round()).toBe(false);
    expect(intake.applied).toEqual(['2.25.9']);
    expect(await readdir(dir)).toEqual([]);
    // The feed announcing it after all changes nothing; the open order without a study stays open.
    archive.feed = [{ seq: 1, changeType: 'StableStudy', id: '9' }];
    await poller.round();
    expect(intake.applied).toEqual(['2.25.9']);
    expect(await intake.openOrders()).toEqual([{ accessionNumber: 'A8', studyInstanceUid: '2.25.8' }]);
  });
});
