// The load of a fault trial: dispenses posted over HTTP at a steady rate, from a seeded PRNG so that a
// trial's load is the same on every run.
/* eslint-disable no-restricted-imports -- the runner speaks the dispensing service's FHIR */
import { RXNORM_SYSTEM } from '../../apps/pharmacy/src/dispensing/fhir-resources';
import type { StockSeedLine } from '../../apps/pharmacy/src/inventory/database/seeds/stock';
import { devAuthorization } from '../services';
/* eslint-enable no-restricted-imports */

/** Resolves after `ms` milliseconds (the load's pacing and the trial's own pauses). */
export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** A small seeded PRNG (mulberry32), so a trial's load is the same on every run. */
function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface LoadResult {
  created: number;
  failed: number;
  statuses: Map<string, number>;
}

/** Posts dispenses from `concurrency` clients, at most `ratePerSecond`, until `done()` says stop. */
export async function driveDispenses(
  url: string,
  stock: readonly StockSeedLine[],
  options: { concurrency: number; ratePerSecond: number; seed: number; tag: string; done: () => boolean },
): Promise<LoadResult> {
  const next = random(options.seed);
  const result: LoadResult = { created: 0, failed: 0, statuses: new Map() };
  const start = Date.now();
  let counter = 0;
  const worker = async (): Promise<void> => {
    while (!options.done()) {
      const n = counter++;
      const due = start + (n * 1000) / options.ratePerSecond;
      if (due > Date.now()) await sleep(due - Date.now());
      if (options.done()) break;
      const line = stock[Math.floor(next() * stock.length)];
      const body = {
        resourceType: 'MedicationDispense',
        status: 'completed',
        identifier: [{ system: 'urn:hospital:faults:dispense', value: `${options.tag}-${n}` }],
        medicationCodeableConcept: { coding: [{ system: RXNORM_SYSTEM, code: line.medicationCode }] },
        subject: { reference: 'Patient/pat-0001' },
        quantity: { value: 1 + Math.floor(next() * 5) },
        location: { reference: `Location/${line.locationId}` },
        whenHandedOver: new Date().toISOString(),
      };
      let status: string;
      try {
        const response = await fetch(`${url}/fhir/MedicationDispense`, {
          method: 'POST',
          headers: { 'content-type': 'application/fhir+json', authorization: devAuthorization('clinician') },
          body: JSON.stringify(body),
          signal: AbortSignal.timeout(15_000),
        });
        await response.arrayBuffer();
        status = String(response.status);
      } catch (error) {
        status = error instanceof Error ? error.name : 'error';
      }
      if (status === '201') result.created += 1;
      else {
        result.failed += 1;
        await sleep(50);
      }
      result.statuses.set(status, (result.statuses.get(status) ?? 0) + 1);
    }
  };
  await Promise.all(Array.from({ length: options.concurrency }, worker));
  return result;
}
