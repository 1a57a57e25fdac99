// Programs the hospital's tests and demo take from Debian's packages, installed on first use (CI and a
// new machine run as root with Debian's package mirror reachable): Orthanc and dcmtk for the PACS,
// Chromium for the console's browser tests.
import { existsSync } from 'node:fs';
import { runCommand, summarizeOutput } from './exec';
import { InfrastructureError, type Log } from './control';

/** Apt runs one at a time: callers in one process share one install. */
let installing: Promise<unknown> = Promise.resolve();

/**
 * `binary`, installing `packages` with apt-get when it is missing. Throws an InfrastructureError with
 * apt's own words when the install does not bring it.
 */
export async function ensureDebianBinary(
  binary: string,
  packages: readonly string[],
  log: Log = () => undefined,
): Promise<string> {
  if (existsSync(binary)) return binary;
  const install = installing.then(async () => {
    if (existsSync(binary)) return;
    log(`${binary} is not installed: apt-get install -y ${packages.join(' ')}`);
    const update = await runCommand(['apt-get', 'update'], 300_000);
    const done = await runCommand(
      [
        'env',
        'DEBIAN_FRONTEND=noninteractive',
        'apt-get',
        'install',
        '-y',
        '--no-install-recommends',
        ...packages,
      ],
      600_000,
    );
    if (done.code !== 0 || !existsSync(binary))
      throw new InfrastructureError(
        `could not install ${packages.join(', ')}: ${summarizeOutput(done.output || update.output)}`,
      );
  });
  installing = install.catch(() => undefined);
  await install;
  return binary;
}

/** Debian's Chromium, for the console's browser tests (driven by playwright-core, no browser download). */
export function ensureChromium(log?: Log): Promise<string> {
  return ensureDebianBinary('/usr/bin/chromium', ['chromium'], log);
}
