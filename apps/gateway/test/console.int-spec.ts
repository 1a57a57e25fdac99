import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from 'amqplib';
import { Client } from 'pg';
import { chromium, type Browser, type Page } from 'playwright-core';
import { testAccessToken, testAuthorization } from '@hospital/platform/testing/access-token';
import { ensureChromium } from '../../../scripts/infra/debian-packages';
import { recordUpdateBundle } from '../../../scripts/lib/sample-bundle';
import { E2eHospital } from './support/e2e-hospital';

/**
 * The operations console in a real browser (Debian's Chromium, driven by playwright-core), served by a real
 * gateway in front of a real EMR, LIS, PACS and audit service (processes from `dist/`): an administrator
 * signs in and watches a record update's two-phase commit appear and commit (in the trace its client
 * started, through the gateway into the EMR), opens its timeline, and
 * replays a dead letter; an auditor finds the update's patient in the audit trail; a pharmacist finds the
 * drugs at or under their reorder point in the inventory's stock.
 */
jest.setTimeout(180_000);

const FIRST_PORT = 4440;
const TRACE_ID = '4bf92f3577b34da6a3ce929d0e0e4736';
const AMQP_URL = process.env.AMQP_URL ?? 'amqp://guest:guest@127.0.0.1:5672';

/** Runs `attempt` until it does not throw, for at most `ms`; then throws its last error. */
async function retrying(attempt: () => Promise<void>, ms: number): Promise<void> {
  const until = Date.now() + ms;
  for (;;) {
    try {
      return await attempt();
    } catch (error) {
      if (Date.now() > until) throw error;
    }
  }
}

describe('the operations console in a browser', () => {
  const worklists = mkdtempSync(join(tmpdir(), 'console-worklists-'));
  let hospital: E2eHospital;
  let browser: Browser;
  let page: Page;

  beforeAll(async () => {
    const executablePath = await ensureChromium();
    hospital = await E2eHospital.start(
      FIRST_PORT,
      {},
      { ORTHANC_WORKLIST_DIR: worklists },
      { inventory: true },
    );
    browser = await chromium.launch({
      executablePath,
      args: [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
    });
    page = await browser.newPage();
  }, 180_000);

  afterAll(async () => {
    await browser?.close();
    await hospital?.stop();
    rmSync(worklists, { recursive: true, force: true });
  });

  /** Opens the console signed in with the token of `role` (the URL fragment a demo prints). */
  async function signIn(role: 'administrator' | 'auditor' | 'pharmacist'): Promise<void> {
    await page.goto(`${hospital.gatewayUrl}/console/#token=${testAccessToken(role)}`);
    await page.getByTestId('who').filter({ hasText: role }).waitFor();
  }

  it('serves the console with its own CSP, and a sign-in screen without a token', async () => {
    const answer = await fetch(`${hospital.gatewayUrl}/console/`);
    expect(answer.status).toBe(200);
    expect(answer.headers.get('content-security-policy')).toMatch(/script-src 'self'/);
    await page.goto(`${hospital.gatewayUrl}/console/`);
    await page.getByTestId('sign-in').waitFor();
  });

  it('shows a record update’s two-phase commit appear, commit, and its timeline', async () => {
    await signIn('administrator');
    await page.getByTestId('nav-transactions').click();
    const correlationId = `console-${Date.now()}`;
    const created = await fetch(`${hospital.gatewayUrl}/fhir`, {
      method: 'POST',
      headers: {
        authorization: testAuthorization('clinician'),
        'content-type': 'application/fhir+json',
        'x-correlation-id': correlationId,
        // The client's trace: the gateway's span and the EMR's join it, and the EMR records it with the gtid.
        traceparent: `00-${TRACE_ID}-00f067aa0ba902b7-01`,
      },
      body: JSON.stringify(recordUpdateBundle(1, 'CONSOLE')),
    });
    expect(created.status).toBe(200);
    await page.getByTestId('filter-patient').fill(correlationId);
    const row = page.getByTestId('tx-row').filter({ hasText: 'committed' });
    await row.first().waitFor({ timeout: 30_000 });
    expect(await page.getByTestId('tx-row').count()).toBe(1);
    await expect(row.first().textContent()).resolves.toMatch(/2pc/);

    const listed = await fetch(`${hospital.gatewayUrl}/api/emr/transactions?correlationId=${correlationId}`, {
      headers: { authorization: testAuthorization('administrator') },
    });
    expect(await listed.json()).toEqual([expect.objectContaining({ style: '2pc', traceId: TRACE_ID })]);

    await row.first().getByRole('link').first().click();
    await page.getByTestId('timeline').waitFor();
    const steps = await page.getByTestId('timeline-step').allTextContents();
    expect(steps.length).toBeGreaterThanOrEqual(2);
    expect(steps.join('\n')).toMatch(/commit/i);
  });

  it('lists a dead letter and replays it', async () => {
    const queue = `${hospital.namespace}.emr.order-results`;
    const connection = await connect(AMQP_URL);
    try {
      const channel = await connection.createConfirmChannel();
      // A result the EMR can never apply (no payload it can read): dead-lettered with its reason.
      channel.sendToQueue(queue, Buffer.from('{"not":"a result"}'), {
        messageId: `console-dead-${Date.now()}`,
        type: 'order.result',
        contentType: 'application/json',
      });
      await channel.waitForConfirms();
    } finally {
      await connection.close();
    }
    await signIn('administrator');
    await page.getByTestId('nav-dead-letters').click();
    await retrying(async () => {
      await page.getByTestId('nav-transactions').click();
      await page.getByTestId('nav-dead-letters').click();
      await page.getByTestId('dead-letter-row').first().waitFor({ timeout: 3_000 });
    }, 30_000);
    await page.getByTestId('replay-emr.order-results').click();
    await expect(page.getByTestId('replay-result').textContent()).resolves.toMatch(/replayed 1/);
  });

  it('lets an auditor search the audit trail by patient and verify the chain', async () => {
    const searched = await fetch(`${hospital.gatewayUrl}/fhir/Patient?_count=1`, {
      headers: { authorization: testAuthorization('clinician') },
    });
    const bundle = (await searched.json()) as { entry?: { resource: { id: string } }[] };
    const patientId = bundle.entry?.[0]?.resource.id;
    expect(patientId).toBeDefined();

    await page.getByTestId('sign-out').click();
    await signIn('auditor');
    await page.getByTestId('nav-audit').click();
    await page.getByTestId('audit-patient').fill(`Patient/${patientId}`);
    await retrying(async () => {
      await page.getByTestId('audit-search').click();
      await page.getByTestId('audit-row').first().waitFor({ timeout: 3_000 });
    }, 30_000);
    await page.getByTestId('audit-verify').click();
    await expect(page.getByTestId('verify-result').textContent()).resolves.toMatch(/ok|true|intact/i);
  });

  it('shows a pharmacist the stock, the lines at or under the reorder point first', async () => {
    // One line under its reorder point, as dispenses would leave it.
    const stock = new Client({ ...hospital.databases['pharmacy-inventory'] });
    await stock.connect();
    try {
      await stock.query(
        `UPDATE inventory_stock SET on_hand = 7 WHERE medication_code = '197361' AND location_id = 'ward-3a'`,
      );
    } finally {
      await stock.end();
    }

    await page.getByTestId('sign-out').click();
    await signIn('pharmacist');
    // A pharmacist starts on the stock screen.
    await page.getByTestId('stock-row').first().waitFor({ timeout: 30_000 });
    const first = page.getByTestId('stock-row').first();
    expect(await first.getAttribute('data-level')).toBe('low');
    await expect(first.textContent()).resolves.toMatch(/197361[\s\S]*ward-3a/);
    expect(await page.getByTestId('stock-row').count()).toBeGreaterThan(10);

    await page.getByTestId('stock-low-only').check();
    await retrying(async () => {
      expect(await page.getByTestId('stock-row').count()).toBe(1);
    }, 10_000);
    await page.getByTestId('stock-low-only').uncheck();
    await page.getByTestId('stock-filter').fill('main-pharmacy');
    await retrying(async () => {
      const locations = await page.getByTestId('stock-row').locator('td:nth-child(2)').allTextContents();
      expect(locations.length).toBeGreaterThan(0);
      expect(new Set(locations)).toEqual(new Set(['main-pharmacy']));
    }, 10_000);
  });
});
