import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { OrthancServer } from '../../../../scripts/infra/orthanc';

/**
 * A private Orthanc for one spec file, on the ports it is given, in a temporary directory: started with
 * `startTestOrthanc`, stopped and restarted by the spec (fault runs), removed with its data by `teardown`.
 */
export interface TestOrthanc {
  server: OrthancServer;
  url: string;
  dicomPort: number;
  aeTitle: string;
  worklistDir: string;
  teardown(): Promise<void>;
}

export async function startTestOrthanc(
  httpPort: number,
  dicomPort: number,
  stableAgeSeconds = 1,
): Promise<TestOrthanc> {
  const dir = await mkdtemp(join(tmpdir(), 'pacs-orthanc-'));
  const aeTitle = 'TESTARCHIVE';
  const server = new OrthancServer({ dir, httpPort, dicomPort, aeTitle, stableAgeSeconds });
  try {
    await server.start();
  } catch (error) {
    await rm(dir, { recursive: true, force: true });
    throw error;
  }
  return {
    server,
    url: server.url,
    dicomPort,
    aeTitle,
    worklistDir: server.paths.worklists,
    teardown: async () => {
      await server.stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
