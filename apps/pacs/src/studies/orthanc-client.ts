import { request } from 'undici';

/** A DICOM JSON dataset (PS3.18 F.2) as QIDO-RS answers: tag → `{ vr, Value }`. */
export type DicomJson = Record<string, { vr: string; Value?: unknown[] } | undefined>;

/** One entry of Orthanc's change feed. */
export interface ArchiveChange {
  seq: number;
  changeType: string;
  /** Orthanc's own id of the resource that changed. */
  id: string;
}

export interface ChangePage {
  changes: ArchiveChange[];
  /** The last sequence number this page reached (the next `since`). */
  last: number;
  /** Whether the feed has nothing after `last`. */
  done: boolean;
}

/** The archive did not answer as it should (down, restarting, or an error status). */
export class ArchiveUnavailableError extends Error {
  override readonly name = 'ArchiveUnavailableError';
}

const STUDY_FIELDS = ['00080020', '00080030', '00080061', '00081030', '00201206', '00201208'];
const SERIES_FIELDS = ['0008103E', '00201209'];

/**
 * The PACS's view of its archive, Orthanc, over HTTP: the change feed (`/changes`), the StudyInstanceUID
 * of a stored study, and QIDO-RS (`/dicom-web`) for the attributes of a study and its series. Every call
 * either answers or throws `ArchiveUnavailableError`; a study gone from the archive answers undefined.
 */
export class OrthancClient {
  constructor(
    private readonly baseUrl: string,
    private readonly timeoutMs = 10_000,
  ) {}

  /** The archive's DICOMweb base, which WADO-RS retrievals start from. */
  get dicomWebBase(): string {
    return `${this.baseUrl.replace(/\/$/, '')}/dicom-web`;
  }

  /** GET `path`, or POST `body` to it (Orthanc's tools take their argument as the body). */
  private async get<T>(path: string, body?: string): Promise<T | undefined> {
    let response;
    try {
      response = await request(`${this.baseUrl.replace(/\/$/, '')}${path}`, {
        ...(body === undefined ? {} : { method: 'POST' as const, body }),
        headers: { accept: 'application/json' },
        headersTimeout: this.timeoutMs,
        bodyTimeout: this.timeoutMs,
      });
    } catch (error) {
      throw new ArchiveUnavailableError(`archive unreachable: ${(error as Error).message}`);
    }
    const text = await response.body.text();
    if (response.statusCode === 404) return undefined;
    if (response.statusCode === 204 || text === '') return [] as T;
    if (response.statusCode !== 200) {
      throw new ArchiveUnavailableError(`archive answered ${response.statusCode} to ${path.split('?')[0]}`);
    }
    return JSON.parse(text) as T;
  }

  /** Up to `limit` changes after `since`. */
  async changes(since: number, limit = 100): Promise<ChangePage> {
    const page = await this.get<{
      Changes: { Seq: number; ChangeType: string; ID: string }[];
      Last: number;
      Done: boolean;
    }>(`/changes?since=${since}&limit=${limit}`);
    if (page === undefined) throw new ArchiveUnavailableError('archive has no change feed');
    return {
      changes: page.Changes.map((c) => ({ seq: c.Seq, changeType: c.ChangeType, id: c.ID })),
      last: page.Last,
      done: page.Done,
    };
  }

  /**
   * Whether the archive holds the study `studyInstanceUid` and counts it stable (no instance arrived for
   * its stable age). A study stored just before a restart of the archive is never announced as
   * StableStudy in the feed, but the archive counts it stable once it is up again.
   */
  async studyIsStable(studyInstanceUid: string): Promise<boolean> {
    const ids = await this.get<{ ID: string; Type: string }[]>('/tools/lookup', studyInstanceUid);
    const id = ids?.find((r) => r.Type === 'Study')?.ID;
    if (id === undefined) return false;
    const study = await this.get<{ IsStable?: boolean }>(`/studies/${id}`);
    return study?.IsStable === true;
  }

  /** The StudyInstanceUID of the study Orthanc knows as `orthancId`; undefined once deleted. */
  async studyInstanceUid(orthancId: string): Promise<string | undefined> {
    if (!/^[0-9a-f-]{1,64}$/.test(orthancId)) return undefined;
    const study = await this.get<{ MainDicomTags?: { StudyInstanceUID?: string } }>(`/studies/${orthancId}`);
    return study?.MainDicomTags?.StudyInstanceUID;
  }

  /** The study's attributes by QIDO-RS; undefined when the archive does not hold it. */
  async study(studyInstanceUid: string): Promise<DicomJson | undefined> {
    const fields = STUDY_FIELDS.map((f) => `&includefield=${f}`).join('');
    const found = await this.get<DicomJson[]>(
      `/dicom-web/studies?StudyInstanceUID=${encodeURIComponent(studyInstanceUid)}${fields}`,
    );
    return found?.[0];
  }

  /** The study's series by QIDO-RS. */
  async series(studyInstanceUid: string): Promise<DicomJson[]> {
    const fields = SERIES_FIELDS.map((f) => `includefield=${f}`).join('&');
    return (
      (await this.get<DicomJson[]>(
        `/dicom-web/studies/${encodeURIComponent(studyInstanceUid)}/series?${fields}`,
      )) ?? []
    );
  }
}
