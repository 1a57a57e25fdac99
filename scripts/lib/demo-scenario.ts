// The demo's scenario driver: keeps every clinical workflow of the hospital running at a gentle rate, with
// occasional failures injected on purpose (a treatment plan asking for a drug that is out of stock, which
// its saga compensates or its TCC cancels), and prints one progress line at a time. Workflows the driver
// starts itself (record updates, dispenses, bookings, treatment plans in each mode, consults) count when
// their request is answered; the ones that follow from them (laboratory and imaging results, reorders, ICU
// alerts, appointment confirmations) count when the service that finishes them shows a new record.
import { DEMO_SLOT_DAYS, openSlots } from './demo-appointments';
import { recordUpdateBundle } from './sample-bundle';
import { appointmentBooking, oncologyCareTeam, treatmentPlan, wardDispense } from './sample-resources';
import { completeConsult, openConsult } from './telemedicine-cluster';
import { devAuthorizationFor } from '../services';

type Log = (line: string) => void;

/** Where the driver reaches each service. */
export interface ScenarioUrls {
  emr: string;
  pharmacy: string;
  supplyChain: string;
  appointments: string;
  carePlans: string;
  telemedicine: string;
  icuStation: string;
  /** The pharmacy inventory: its stock is the treatment plans' reservable drug capacity. */
  inventory: string;
}

/** One workflow's tally. */
interface Tally {
  /** What the console calls its transaction style. */
  style: string;
  completed: number;
  /** Injected failures that ended as designed (compensated, cancelled, refused). */
  refused: number;
  errors: number;
  lastError?: string;
}

/** Ward drugs the driver dispenses, three times each in turn: the third crosses the reorder point. */
const WARD_DRUGS = ['197361', '314076', '313782', '198440', '243670', '308182', '1665060', '745679'];
const MODES = ['saga', 'quota-saga', 'tcc'] as const;
/**
 * Each mode's consultant and modality: the quota-cached saga lends capacity to its participants' caches
 * ahead of demand, which the saga and the TCC then cannot claim, so the modes draw on resources of their own.
 */
const MODE_RESOURCES = {
  saga: { practitioner: 'prac-0001', modality: 'CT' },
  'quota-saga': { practitioner: 'prac-0003', modality: 'MR' },
  tcc: { practitioner: 'prac-0002', modality: 'US' },
} as const;
/** Not in the formulary's stock anywhere: a plan asking for it is refused at its last step. */
const STOCK_OUT_DRUG = '999999';
/** The drug of the plans that are meant to succeed. */
const PLAN_DRUG = '197361';

async function call(
  method: string,
  url: string,
  body?: unknown,
): Promise<{ status: number; body: string; headers: Headers }> {
  const response = await fetch(url, {
    method,
    headers: {
      authorization: devAuthorizationFor(url),
      ...(body === undefined ? {} : { 'content-type': 'application/fhir+json' }),
    },
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(30_000),
  });
  return { status: response.status, body: await response.text(), headers: response.headers };
}

/** `total` of a `_summary=count` search. */
async function count(url: string): Promise<number> {
  const answer = await call('GET', url);
  if (answer.status !== 200) throw new Error(`GET ${url}: HTTP ${answer.status}`);
  return (JSON.parse(answer.body) as { total?: number }).total ?? 0;
}

const patientOf = (n: number): string => `pat-${String(4 + (n % 290)).padStart(4, '0')}`;

export class ScenarioDriver {
  private readonly tallies = new Map<string, Tally>();
  private readonly baselines = new Map<string, number>();
  private readonly timers: NodeJS.Timeout[] = [];
  private readonly started = Date.now();
  private allDoneAt?: number;
  private careTeamId?: string;
  /** How many days from tomorrow each practitioner has slots open (the demo seeds DEMO_SLOT_DAYS). */
  private readonly openDays = new Map<string, number>();
  /** The driver's bookings not yet cancelled, oldest first. */
  private readonly booked: { id: string; resource: Record<string, unknown> }[] = [];
  private stopped = false;

  constructor(
    private readonly urls: ScenarioUrls,
    private readonly log: Log,
  ) {}

  /** Starts every workflow's loop and the progress line; returns at once. */
  async start(): Promise<void> {
    await this.observeAll(true);
    this.every('record update', '2pc', 8_000, (n) => this.recordUpdate(n));
    this.every('dispense', 'outbox', 9_000, (n) => this.dispense(n));
    this.every('booking', 'best-effort', 12_000, (n) => this.booking(n));
    for (const [i, mode] of MODES.entries())
      this.every(`care plan (${mode})`, mode, 15_000, (n) => this.carePlan(mode, n), 2_000 + i * 1_500);
    this.every('consult', '3pc', 20_000, (n) => this.consult(n));
    this.timers.push(setInterval(() => void this.observeAll(false), 5_000));
    this.timers.push(setInterval(() => this.progress(), 10_000));
  }

  stop(): void {
    this.stopped = true;
    for (const timer of this.timers) clearInterval(timer);
  }

  /** Runs `step` every `ms` (the first after `firstMs`), one at a time, tallying its outcome. */
  private every(
    name: string,
    style: string,
    ms: number,
    step: (n: number) => Promise<'completed' | 'refused'>,
    firstMs = 1_000,
  ): void {
    const tally = this.tally(name, style);
    let n = 0;
    let busy = false;
    const run = async (): Promise<void> => {
      if (busy || this.stopped) return;
      busy = true;
      try {
        tally[await step(n)] += 1;
      } catch (error) {
        tally.errors += 1;
        const reason = error instanceof Error ? error.message : String(error);
        if (reason !== tally.lastError) this.log(`scenario: ${name} failed: ${reason}`);
        tally.lastError = reason;
      } finally {
        n += 1;
        busy = false;
      }
    };
    this.timers.push(setTimeout(() => void run(), firstMs));
    this.timers.push(setInterval(() => void run(), ms));
  }

  private tally(name: string, style: string): Tally {
    let tally = this.tallies.get(name);
    if (!tally) {
      tally = { style, completed: 0, refused: 0, errors: 0 };
      this.tallies.set(name, tally);
    }
    return tally;
  }

  /** A new patient with an encounter, a laboratory and an imaging order: the EMR, LIS and PACS by 2PC. */
  private async recordUpdate(n: number): Promise<'completed'> {
    const answer = await call('POST', `${this.urls.emr}/fhir`, recordUpdateBundle(n, 'DEMO'));
    if (answer.status !== 200) throw new Error(`record update: HTTP ${answer.status}`);
    return 'completed';
  }

  /** A ward dispense; the inventory hears of it through the outbox and reorders below the reorder point. */
  private async dispense(n: number): Promise<'completed'> {
    const drug = WARD_DRUGS[Math.floor(n / 3) % WARD_DRUGS.length];
    const answer = await call(
      'POST',
      `${this.urls.pharmacy}/fhir/MedicationDispense`,
      wardDispense(drug, 'ward-3a', patientOf(n), 100),
    );
    if (answer.status !== 201) throw new Error(`dispense: HTTP ${answer.status}`);
    return 'completed';
  }

  /**
   * A free slot of a clinic practitioner, booked for a patient; the booking of two rounds before is then
   * cancelled (the patient called back), which frees its slot. Both are confirmed to the patient and the
   * practitioner by best-effort notification.
   */
  private async booking(n: number): Promise<'completed'> {
    const slot = await this.freeSlot('prac-0002');
    const answer = await call(
      'POST',
      `${this.urls.appointments}/fhir/Appointment`,
      appointmentBooking(slot, patientOf(n), 'prac-0002'),
    );
    if (answer.status !== 201) throw new Error(`booking: HTTP ${answer.status}`);
    const resource = JSON.parse(answer.body) as Record<string, unknown> & { id: string };
    this.booked.push({ id: resource.id, resource });
    const oldest = this.booked.length > 2 ? this.booked.shift() : undefined;
    if (oldest) {
      const cancelled = await call('PUT', `${this.urls.appointments}/fhir/Appointment/${oldest.id}`, {
        ...oldest.resource,
        status: 'cancelled',
      });
      if (cancelled.status !== 200) throw new Error(`cancelling a booking: HTTP ${cancelled.status}`);
    }
    return 'completed';
  }

  /**
   * A treatment plan (consult slot, imaging examination, regimen) in `mode`; every fourth asks for a drug the
   * pharmacy has none of, so its saga compensates (or its TCC cancels) the slot and the examination it had taken.
   */
  private async carePlan(mode: (typeof MODES)[number], n: number): Promise<'completed' | 'refused'> {
    this.careTeamId ??= await this.createCareTeam();
    const { practitioner, modality } = MODE_RESOURCES[mode];
    const slot = await this.freeSlot(practitioner);
    const stockOut = n % 4 === 3;
    const day = new Date(Date.now() + (1 + (n % 13)) * 86_400_000).toISOString().slice(0, 10);
    const answer = await call(
      'POST',
      `${this.urls.carePlans}/fhir/CarePlan?_mode=${mode}`,
      treatmentPlan({
        patient: 'pat-0002',
        careTeamId: this.careTeamId,
        practitioner,
        slotId: slot.slotId,
        modality,
        day,
        drug: stockOut ? STOCK_OUT_DRUG : PLAN_DRUG,
      }),
    );
    if (answer.status === 201) return 'completed';
    // Revoked: a step was refused (the stock-out drug, or a slot or CT day taken meanwhile) and the steps
    // before it compensated or cancelled, as designed.
    if (answer.status === 409) {
      const reason = /"diagnostics":"([^"]*)"/.exec(answer.body)?.[1] ?? 'revoked';
      this.log(
        `scenario: care plan (${mode}) ${stockOut ? 'with the stock-out drug ' : ''}revoked: ${reason}`,
      );
      return 'refused';
    }
    throw new Error(`care plan (${mode}): HTTP ${answer.status} ${answer.body.slice(0, 200)}`);
  }

  /** A teledermatology consult about a patient, completed by three-phase commit. */
  private async consult(n: number): Promise<'completed'> {
    const opened = await openConsult(this.urls.telemedicine, patientOf(n));
    const done = await completeConsult(this.urls.telemedicine, opened.serviceRequestId);
    if (done.status !== 200) throw new Error(`consult: HTTP ${done.status ?? done.error}`);
    return 'completed';
  }

  /**
   * The plans' drugs as reservable capacity at the main pharmacy: plenty of the one, none of the other
   * (the CT days and the slots are offered already).
   */
  private async offerPlanDrugs(): Promise<void> {
    for (const [drug, capacity] of [
      [PLAN_DRUG, 100_000],
      [STOCK_OUT_DRUG, 0],
    ] as const) {
      const resource = `drug:${drug}@main-pharmacy`;
      const answer = await call('PUT', `${this.urls.inventory}/api/capacity/resources/${resource}`, {
        capacity,
      });
      if (answer.status !== 200 && answer.status !== 201)
        throw new Error(`offering ${resource}: HTTP ${answer.status} ${answer.body.slice(0, 200)}`);
    }
  }

  private async createCareTeam(): Promise<string> {
    await this.offerPlanDrugs();
    const answer = await call('POST', `${this.urls.carePlans}/fhir/CareTeam`, oncologyCareTeam('pat-0002'));
    if (answer.status !== 201)
      throw new Error(`care team: HTTP ${answer.status} ${answer.body.slice(0, 200)}`);
    return (JSON.parse(answer.body) as { id: string }).id;
  }

  /**
   * A free slot of `practitioner` on one of the days it has slots open, picked at random: a slot a
   * treatment plan holds still shows as free here (the plan claims its capacity, not an Appointment), so a
   * fixed pick would meet the plans of an earlier run. When every open day is taken, the practitioner's
   * next days are opened, so a demo that runs for hours keeps finding slots.
   */
  private async freeSlot(practitioner: string): Promise<{ slotId: string; start: string; end: string }> {
    for (let round = 0; round < 4; round += 1) {
      const open = this.openDays.get(practitioner) ?? DEMO_SLOT_DAYS;
      const days = Array.from({ length: open }, (_, i) => 1 + i).sort(() => Math.random() - 0.5);
      for (const offset of days) {
        const date = new Date(Date.now() + offset * 86_400_000).toISOString().slice(0, 10);
        const answer = await call(
          'GET',
          `${this.urls.appointments}/api/slots/free?practitioner=${practitioner}&date=${date}`,
        );
        if (answer.status !== 200) throw new Error(`free slots: HTTP ${answer.status}`);
        const free = JSON.parse(answer.body) as { slotId: string; start: string; end: string }[];
        const pick = free[Math.floor(Math.random() * free.length)];
        if (pick) return pick;
      }
      await openSlots(this.urls.appointments, practitioner, open + 1, DEMO_SLOT_DAYS);
      this.openDays.set(practitioner, open + DEMO_SLOT_DAYS);
      this.log(
        `scenario: ${practitioner}'s open slots are taken; opened days ${open + 1}–${open + DEMO_SLOT_DAYS}`,
      );
    }
    throw new Error(`no free slot of ${practitioner} after opening more days`);
  }

  /** What the services show of the workflows that follow from the driver's requests. */
  private async observeAll(baseline: boolean): Promise<void> {
    const observed: [string, string, () => Promise<number>][] = [
      ['lab result', 'outbox', () => count(`${this.urls.emr}/fhir/DiagnosticReport?_summary=count`)],
      ['imaging study', 'outbox', () => count(`${this.urls.emr}/fhir/ImagingStudy?_summary=count`)],
      ['reorder', 'message', () => count(`${this.urls.supplyChain}/fhir/SupplyRequest?_summary=count`)],
      [
        'ICU alert',
        'best-effort',
        async () => {
          const answer = await call('GET', `${this.urls.icuStation}/api/alerts`);
          if (answer.status !== 200) throw new Error(`ICU alerts: HTTP ${answer.status}`);
          return (JSON.parse(answer.body) as { total: number }).total;
        },
      ],
    ];
    await Promise.all(
      observed.map(async ([name, style, probe]) => {
        const tally = this.tally(name, style);
        try {
          const total = await probe();
          if (baseline) this.baselines.set(name, total);
          else tally.completed = Math.max(0, total - (this.baselines.get(name) ?? 0));
        } catch (error) {
          tally.lastError = error instanceof Error ? error.message : String(error);
        }
      }),
    );
    if (this.allDoneAt === undefined && [...this.tallies.values()].every((t) => t.completed > 0)) {
      this.allDoneAt = Date.now();
      this.log(
        `scenario: every workflow has completed at least once (${this.elapsed(this.allDoneAt)} after the driver started, ${Math.round(process.uptime())} s after the demo did)`,
      );
    }
  }

  private elapsed(at = Date.now()): string {
    const s = Math.round((at - this.started) / 1000);
    return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  }

  /** One line: each workflow's completions, refusals and errors. */
  private progress(): void {
    const parts = [...this.tallies.entries()].map(([name, t]) => {
      const extra = [t.refused > 0 ? `${t.refused} refused` : '', t.errors > 0 ? `${t.errors} errors` : '']
        .filter(Boolean)
        .join(', ');
      return `${name} ${t.completed}${extra ? ` (${extra})` : ''}`;
    });
    this.log(`scenario ${this.elapsed()}: ${parts.join(' · ')}`);
  }
}
