// `npm run screenshots -- [--gateway http://127.0.0.1:8080] [--out docs/screenshots]`
// With the demo running (`npm run demo`), opens the operations console in Debian's Chromium as the demo's
// roles and saves the main screens as PNG: the transaction list, one transaction's timeline, the ICU board, the pharmacy's stock
// and the audit review, each with the demo's live data.
import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { chromium, type Page } from 'playwright-core';
import type { Role } from '@hospital/platform';
import { ensureChromium } from './infra/debian-packages';
import { devAuthorization, repositoryRoot } from './services';

const log = (line: string): void => void process.stderr.write(`screenshots: ${line}\n`);

function option(name: string, fallback: string): string {
  const at = process.argv.indexOf(`--${name}`);
  return at >= 0 && process.argv[at + 1] !== undefined ? process.argv[at + 1] : fallback;
}

async function main(): Promise<void> {
  const gateway = option('gateway', 'http://127.0.0.1:8080');
  const out = resolve(option('out', join(repositoryRoot(), 'docs', 'screenshots')));
  const health = await fetch(`${gateway}/console/`).catch(() => undefined);
  if (health?.status !== 200)
    throw new Error(`no console at ${gateway}/console/: is \`npm run demo\` running?`);
  mkdirSync(out, { recursive: true });
  const browser = await chromium.launch({
    executablePath: await ensureChromium(log),
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--no-first-run',
      '--disable-background-networking',
    ],
  });
  try {
    const page = await browser.newPage({ viewport: { width: 1440, height: 900 } });
    const signIn = async (role: Role): Promise<void> => {
      await page.goto(`${gateway}/console/#token=${devAuthorization(role).slice('Bearer '.length)}`);
      await page.getByTestId('who').filter({ hasText: role }).waitFor();
    };
    const shoot = async (target: Page, name: string): Promise<void> => {
      await target.waitForTimeout(500);
      await target.screenshot({ path: join(out, `${name}.png`) });
      log(`${join(out, `${name}.png`)}`);
    };

    await signIn('administrator');
    await page.getByTestId('nav-transactions').click();
    await page.getByTestId('tx-row').nth(5).waitFor({ timeout: 30_000 });
    await shoot(page, 'transactions');
    // A saga that compensated shows the most of a timeline: one whose plan asked for the stock-out drug.
    await page.getByTestId('filter-style').selectOption('saga');
    await page.getByTestId('filter-state').fill('aborted');
    const aborted = page.getByTestId('tx-row').filter({ hasText: 'aborted' }).first();
    await aborted.waitFor({ timeout: 30_000 });
    await aborted.getByRole('link').first().click();
    await page.getByTestId('timeline-step').first().waitFor();
    await shoot(page, 'timeline');

    await signIn('nurse');
    await page.getByTestId('nav-icu').click();
    await page.getByTestId('bed-card').first().waitFor({ timeout: 30_000 });
    await shoot(page, 'icu-board');

    await signIn('pharmacist');
    await page.getByTestId('nav-pharmacy').click();
    await page.getByTestId('stock-row').first().waitFor({ timeout: 30_000 });
    await shoot(page, 'pharmacy-stock');

    await signIn('auditor');
    await page.getByTestId('nav-audit').click();
    await page.getByTestId('audit-search').click();
    await page.getByTestId('audit-row').first().waitFor({ timeout: 30_000 });
    await page.getByTestId('audit-verify').click();
    await page.getByTestId('verify-result').waitFor();
    await shoot(page, 'audit');
  } finally {
    await browser.close();
  }
}

main().catch((error: unknown) => {
  log(`error: ${error instanceof Error ? error.message : String(error)}`);
  process.exit(1);
});
