// The README's main flows against the hospital in Compose, over its published ports, with tokens of the
// development issuer the containers trust: each check is a name, a verdict and one line of detail.
import { randomUUID } from 'node:crypto';
import type { Bundle, BundleEntry, CapabilityStatement, Patient } from '@medplum/fhirtypes';
import type { Role } from '@hospital/platform';
import { recordUpdateBundle } from '../lib/sample-bundle';
import { wardDispense } from '../lib/sample-resources';
import { devAuthorization } from '../services';
import { sleep } from './process';

export interface CheckResult {
  name: string;
  ok: boolean;
  detail: string;
  ms: number;
}

/** Where each published service answers (`http://127.0.0.1:<prefix><port>`). */
export type Urls = Record<'gateway' | 'lis' | 'pacs' | 'pharmacy-inventory', string>;

const FHIR_JSON = 'application/fhir+json';

/** A check failed: the message is its one line of detail. */
class CheckFailed extends Error {}

function expect(condition: unknown, message: string): asserts condition {
  if (!condition) throw new CheckFailed(message);
}

async function call(
  url: string,
  role: Role | undefined,
  init: { method?: string; body?: unknown } = {},
): Promise<{ status: number; body: unknown; text: string }> {
  const response = await fetch(url, {
    method: init.method ?? 'GET',
    headers: {
      accept: FHIR_JSON,
      ...(role ? { authorization: devAuthorization(role) } : {}),
      ...(init.body !== undefined ? { 'content-type': FHIR_JSON } : {}),
    },
    body: init.body === undefined ? undefined : JSON.stringify(init.body),
    signal: AbortSignal.timeout(30_000),
  });
  const text = await response.text();
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    body = undefined;
  }
  return { status: response.status, body, text };
}

const excerpt = (text: string): string => text.replace(/\s+/g, ' ').slice(0, 200);

/** Polls `attempt` until it returns a value or `timeoutMs` passes; the last failure is thrown. */
async function eventually<T>(attempt: () => Promise<T>, timeoutMs: number, everyMs = 1_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await attempt();
    } catch (error) {
      if (Date.now() + everyMs > deadline) throw error;
      await sleep(everyMs);
    }
  }
}

/**
 * Runs the flows in order; a flow whose predecessor failed still runs where it can. `only: 'read'` stops
 * after the gateway's health and CapabilityStatement (another replica of the gateway, say).
 */
export async function runFlows(
  urls: Urls,
  report: (result: CheckResult) => void,
  { only }: { only?: 'read' } = {},
): Promise<CheckResult[]> {
  const results: CheckResult[] = [];
  const check = async <T>(name: string, body: () => Promise<[T, string]>): Promise<T | undefined> => {
    const began = Date.now();
    try {
      const [value, detail] = await body();
      const result = { name, ok: true, detail, ms: Date.now() - began };
      results.push(result);
      report(result);
      return value;
    } catch (error) {
      const detail = error instanceof Error ? error.message : String(error);
      const result = { name, ok: false, detail, ms: Date.now() - began };
      results.push(result);
      report(result);
      return undefined;
    }
  };
  const gateway = `${urls.gateway}/fhir`;

  await check('gateway /health: every backend up', async () => {
    const health = await eventually(async () => {
      const answer = await call(`${urls.gateway}/health`, undefined);
      expect(answer.status === 200, `GET /health answered ${answer.status}: ${excerpt(answer.text)}`);
      return answer.body as { status: string; backends: Record<string, { status: string }> };
    }, 60_000);
    const backends = Object.entries(health.backends);
    expect(backends.length > 0, 'GET /health names no backend');
    return [undefined, `${backends.length} backends up: ${backends.map(([name]) => name).join(', ')}`];
  });

  await check('GET /fhir/metadata through the gateway', async () => {
    const answer = await call(`${gateway}/metadata`, undefined);
    expect(answer.status === 200, `answered ${answer.status}: ${excerpt(answer.text)}`);
    const statement = answer.body as CapabilityStatement;
    expect(statement.resourceType === 'CapabilityStatement', `answered a ${statement.resourceType}`);
    const types = statement.rest?.[0]?.resource?.map((r) => r.type) ?? [];
    expect(types.includes('Patient'), `no Patient among ${types.length} resource types`);
    const transaction = statement.rest?.[0]?.interaction?.some((i) => i.code === 'transaction');
    expect(transaction, 'the statement declares no transaction interaction');
    return [undefined, `CapabilityStatement with ${types.length} resource types and transaction`];
  });
  if (only === 'read') return results;

  await check('the operations console served by the gateway', async () => {
    const response = await fetch(`${urls.gateway}/console/`, { signal: AbortSignal.timeout(10_000) });
    const html = await response.text();
    expect(response.status === 200, `GET /console/ answered ${response.status}`);
    expect(/<script[^>]+src="[^"]*assets\//.test(html), 'GET /console/ is not the built console');
    return [undefined, `200, ${html.length} bytes of the built console`];
  });

  const mrn = `DOCKER-${randomUUID().slice(0, 8)}`;
  const patientId = await check('record update (transaction Bundle) through the gateway', async () => {
    const answer = await call(gateway, 'clinician', { method: 'POST', body: recordUpdateBundle(1, mrn) });
    expect(answer.status === 200, `POST /fhir answered ${answer.status}: ${excerpt(answer.text)}`);
    const bundle = answer.body as Bundle;
    expect(bundle.type === 'transaction-response', `answered a ${bundle.type ?? bundle.resourceType} Bundle`);
    const entries: BundleEntry[] = bundle.entry ?? [];
    const statuses = entries.map((e) => e.response?.status ?? '?');
    expect(
      entries.length === 4 && statuses.every((s) => s.startsWith('201')),
      `entry statuses ${statuses.join(', ')}`,
    );
    const location = entries[0].response?.location ?? '';
    // An absolute location names the gateway's base: the EMR believed its X-Forwarded-* headers.
    const id = /(?:^|\/fhir\/)Patient\/([^/]+)/.exec(location)?.[1];
    expect(id, `the patient's entry has location '${location}'`);
    expect(
      !/^https?:/.test(location) || location.startsWith(gateway),
      `the patient's location ${location} is not under the gateway's base ${gateway}`,
    );
    return [id, `200 transaction-response, 4 entries 201 (${location})`];
  });

  if (patientId !== undefined) {
    await check(
      'the patient read back through the gateway, and its copies in the LIS and the PACS',
      async () => {
        const answer = await call(`${gateway}/Patient/${patientId}`, 'clinician');
        expect(
          answer.status === 200,
          `GET /fhir/Patient/${patientId} answered ${answer.status}: ${excerpt(answer.text)}`,
        );
        const patient = answer.body as Patient;
        const identifier = patient.identifier?.[0]?.value;
        expect(identifier === `${mrn}-1`, `the patient's identifier is ${identifier}`);
        // Two-phase commit across three containers: the LIS and the PACS hold the same patient.
        for (const service of ['lis', 'pacs'] as const) {
          const copy = await call(`${urls[service]}/fhir/Patient/${patientId}`, 'clinician');
          expect(
            copy.status === 200,
            `the ${service.toUpperCase()} answered ${copy.status} for the patient's copy`,
          );
        }
        return [undefined, `Patient/${patientId} (${identifier}) in the EMR, the LIS and the PACS`];
      },
    );

    await check("the record update's audit events, to an auditor through the gateway", async () => {
      const events = await eventually(async () => {
        const answer = await call(`${gateway}/AuditEvent?patient=${patientId}&_count=50`, 'auditor');
        expect(
          answer.status === 200,
          `GET /fhir/AuditEvent answered ${answer.status}: ${excerpt(answer.text)}`,
        );
        const bundle = answer.body as Bundle;
        const count = bundle.entry?.length ?? 0;
        expect(count > 0, `no AuditEvent for Patient/${patientId} yet`);
        return bundle.entry ?? [];
      }, 45_000);
      const services = new Set(
        events.map(
          (e) => (e.resource as { source?: { observer?: { display?: string } } }).source?.observer?.display,
        ),
      );
      return [
        undefined,
        `${events.length} AuditEvent(s) for Patient/${patientId} from ${[...services].join(', ')}`,
      ];
    });
  }

  await check(
    'a dispense through the gateway lowers the stock in the inventory (outbox → RabbitMQ)',
    async () => {
      const stockUrl = `${urls['pharmacy-inventory']}/api/inventory/197361?location=ward-3a`;
      const onHand = async (): Promise<number> => {
        const answer = await call(stockUrl, 'clinician');
        expect(answer.status === 200, `GET ${stockUrl} answered ${answer.status}: ${excerpt(answer.text)}`);
        const lines = answer.body as { onHand: number }[];
        expect(lines.length === 1, `${lines.length} stock lines for 197361 at ward-3a`);
        return lines[0].onHand;
      };
      const before = await onHand();
      const dispense = wardDispense('197361', 'ward-3a', 'pat-0001', 2);
      const answer = await call(`${gateway}/MedicationDispense`, 'clinician', {
        method: 'POST',
        body: dispense,
      });
      expect(
        answer.status === 201,
        `POST /fhir/MedicationDispense answered ${answer.status}: ${excerpt(answer.text)}`,
      );
      const after = await eventually(async () => {
        const now = await onHand();
        expect(now === before - 2, `on hand ${now}, expected ${before - 2}`);
        return now;
      }, 30_000);
      return [undefined, `amlodipine at ward-3a: ${before} → ${after}`];
    },
  );

  return results;
}
