import { randomBytes } from 'node:crypto';
import { mkdir, rename, rm, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';

/**
 * The folder Orthanc's ModalityWorklists plugin serves the modality worklist from: one `<accession>.wl`
 * DICOM file per scheduled procedure. A file appears whole (written aside, then renamed over), so a C-FIND
 * never reads half of one; writing or removing an entry twice is harmless.
 */
export class WorklistFolder {
  readonly dir: string;

  constructor(dir: string) {
    this.dir = resolve(dir);
  }

  private fileOf(accessionNumber: string): string {
    if (!/^[A-Za-z0-9]{1,16}$/.test(accessionNumber)) throw new Error('not an accession number');
    return join(this.dir, `${accessionNumber}.wl`);
  }

  /** Puts the entry of `accessionNumber` in place, replacing any previous one. */
  async write(accessionNumber: string, file: Buffer): Promise<void> {
    const target = this.fileOf(accessionNumber);
    await mkdir(this.dir, { recursive: true });
    // Not `.wl`: the plugin lists only those, so it never sees the file before the rename.
    const temporary = join(this.dir, `.${accessionNumber}.${randomBytes(6).toString('hex')}.tmp`);
    try {
      await writeFile(temporary, file, { flag: 'wx' });
      await rename(temporary, target);
    } finally {
      await rm(temporary, { force: true });
    }
  }

  /** Takes the entry of `accessionNumber` off the worklist (nothing when it is not there). */
  async remove(accessionNumber: string): Promise<void> {
    await rm(this.fileOf(accessionNumber), { force: true });
  }
}
