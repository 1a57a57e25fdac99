// The demo's imaging capacity: CT, MR and ultrasound examinations per day for the two weeks from the
// demo's first day. Idempotent: a day already registered is left as it is (its taken and held units too).
import type { SqlExecutor } from '@hospital/platform';
import { PostgresCapacityLedger } from '@hospital/transactions';
import { imagingResource } from '../../capacity/imaging-capacity';

/** Examinations per day and modality. */
export const DEMO_IMAGING_CAPACITY: Readonly<Record<string, number>> = { CT: 40, MR: 24, US: 60 };

const DAY_MS = 86_400_000;

/** Registers each modality's capacity for `days` days from `firstDay` (`YYYY-MM-DD`). */
export async function seedImagingCapacity(
  exec: SqlExecutor,
  firstDay: string,
  days = 14,
): Promise<{ resources: number; registered: number }> {
  const ledger = new PostgresCapacityLedger();
  const start = Date.parse(`${firstDay}T00:00:00Z`);
  let resources = 0;
  let registered = 0;
  for (let d = 0; d < days; d++) {
    const day = new Date(start + d * DAY_MS).toISOString().slice(0, 10);
    for (const [modality, capacity] of Object.entries(DEMO_IMAGING_CAPACITY)) {
      resources += 1;
      if (await ledger.register(exec, imagingResource(modality, day), capacity)) registered += 1;
    }
  }
  return { resources, registered };
}
