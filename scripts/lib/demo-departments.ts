// The demo's laboratory and imaging floor: a simulated analyzer on the LIS's order port that sends results
// back to the LIS's MLLP listener, a simulated modality polling the hospital archive's worklist and storing
// a study for each entry, and one order placed in the EMR at start (a blood count and a chest X-ray for the
// demo patient pat-0001) followed until the EMR shows its DiagnosticReport and its ImagingStudy.
import { join } from 'node:path';
import type { Bundle } from '@medplum/fhirtypes';
import { ORDER_CATEGORY } from '@hospital/fhir';
import { HOSPITAL_ORTHANC, orthancPaths } from '../infra/orthanc';
import { devAuthorization, repositoryRoot } from '../services';
import { AnalyzerSimulator } from './analyzer-simulator';
import { ModalitySimulator } from './modality-simulator';
import { portInUse } from './service-process';

type Log = (line: string) => void;

/** The LIS's HL7 ports in the demo (its defaults): results in on 2575, orders out to the analyzer on 2576. */
export const DEMO_HL7 = { listener: 2575, analyzer: 2576 } as const;
/** How long the simulated analyzer takes to run a sample, and the modality's pause between worklist queries. */
const ANALYZER_DELAY_MS = 2_000;
const MODALITY_POLL_MS = 3_000;
/** The demo patient and encounter the start-up order is for. */
const DEMO_PATIENT = 'pat-0001';
const DEMO_ENCOUNTER = 'enc-0001';

/**
 * The LIS's and the PACS's settings in the demo: the simulated analyzer, the hospital's Orthanc and the
 * worklist folder it serves (this checkout's `.hospital/orthanc/worklists`, where `ensureOrthanc` starts
 * it; an `ORTHANC_WORKLIST_DIR` in the environment wins, for an archive started from elsewhere).
 */
export function departmentEnv(orthancUrl: string): Record<string, Record<string, string>> {
  const worklists =
    process.env.ORTHANC_WORKLIST_DIR ?? orthancPaths(join(repositoryRoot(), HOSPITAL_ORTHANC.dir)).worklists;
  return {
    lis: {
      HL7_LISTEN_PORT: String(DEMO_HL7.listener),
      ANALYZER_MLLP_HOST: '127.0.0.1',
      ANALYZER_MLLP_PORT: String(DEMO_HL7.analyzer),
    },
    pacs: { ORTHANC_URL: orthancUrl, ORTHANC_WORKLIST_DIR: worklists },
  };
}

/** The analyzer and the modality of the demo, running until `stop`. */
export class DepartmentSimulators {
  private stopped = false;
  private modalityRound?: Promise<void>;
  private lastModalityError?: string;

  private constructor(
    readonly analyzer: AnalyzerSimulator,
    readonly modality: ModalitySimulator,
    private readonly log: Log,
  ) {}

  /** Starts the analyzer's order port and the modality's worklist polling. */
  static async start(orthancUrl: string, log: Log): Promise<DepartmentSimulators> {
    if (await portInUse(DEMO_HL7.analyzer))
      throw new Error(
        `port ${DEMO_HL7.analyzer} (the analyzer's MLLP order port) is taken: is another demo running?`,
      );
    const analyzer = new AnalyzerSimulator({
      port: DEMO_HL7.analyzer,
      lisPort: DEMO_HL7.listener,
      resultDelayMs: ANALYZER_DELAY_MS,
    });
    await analyzer.start();
    const modality = new ModalitySimulator({ orthancUrl, dicomPort: HOSPITAL_ORTHANC.dicomPort });
    const simulators = new DepartmentSimulators(analyzer, modality, log);
    simulators.modalityRound = simulators.pollWorklist();
    log(
      `analyzer simulator on MLLP port ${DEMO_HL7.analyzer} (results to the LIS on ${DEMO_HL7.listener}); modality polling ${orthancUrl}'s worklist`,
    );
    return simulators;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.modalityRound;
    await this.analyzer.stop();
  }

  private async pollWorklist(): Promise<void> {
    while (!this.stopped) {
      try {
        const round = await this.modality.runOnce();
        if (round.stored > 0) this.log(`modality: ${round.stored} study(ies) acquired and stored`);
        this.lastModalityError = undefined;
      } catch (error) {
        const reason = error instanceof Error ? error.message.split('\n')[0] : String(error);
        if (reason !== this.lastModalityError) this.log(`modality: worklist round failed: ${reason}`);
        this.lastModalityError = reason;
      }
      const wake = Date.now() + MODALITY_POLL_MS;
      while (!this.stopped && Date.now() < wake) await new Promise((resolve) => setTimeout(resolve, 200));
    }
  }
}

/** A new order of the given category and LOINC code for the demo patient, as a transaction entry. */
function orderEntry(
  category: { system: string; code: string; display: string },
  code: string,
  display: string,
) {
  return {
    resource: {
      resourceType: 'ServiceRequest',
      status: 'active',
      intent: 'order',
      category: [{ coding: [category] }],
      code: { coding: [{ system: 'http://loinc.org', code, display }] },
      subject: { reference: `Patient/${DEMO_PATIENT}` },
      encounter: { reference: `Encounter/${DEMO_ENCOUNTER}` },
    },
    request: { method: 'POST', url: 'ServiceRequest' },
  };
}

async function fhir(url: string, init: RequestInit = {}): Promise<Bundle> {
  const response = await fetch(url, {
    ...init,
    headers: {
      'content-type': 'application/fhir+json',
      authorization: devAuthorization('clinician'),
      ...init.headers,
    },
  });
  if (!response.ok) throw new Error(`${init.method ?? 'GET'} ${url}: HTTP ${response.status}`);
  return (await response.json()) as Bundle;
}

/** The id of the first resource a search Bundle holds, if any. */
async function firstId(url: string): Promise<string | undefined> {
  return (await fhir(url)).entry?.[0]?.resource?.id;
}

/**
 * Places a blood count (LIS) and a chest X-ray (PACS) for pat-0001 in one EMR record update and waits
 * until the EMR shows the laboratory's DiagnosticReport and the archive's ImagingStudy for them; returns
 * the lines to print (the ids, and the searches that find them).
 */
export async function demoOrderRoundTrip(emrUrl: string, timeoutMs = 180_000): Promise<string[]> {
  const placed = await fhir(`${emrUrl}/fhir`, {
    method: 'POST',
    body: JSON.stringify({
      resourceType: 'Bundle',
      type: 'transaction',
      entry: [
        orderEntry(ORDER_CATEGORY.laboratory, '58410-2', 'CBC panel - Blood by Automated count'),
        orderEntry(ORDER_CATEGORY.imaging, '36643-5', 'XR Chest 2 Views'),
      ],
    }),
  });
  const [labOrder, imagingOrder] = (placed.entry ?? []).map((e) => e.resource?.id);
  if (!labOrder || !imagingOrder) throw new Error('the EMR did not answer with the two orders');
  const reportSearch = `${emrUrl}/fhir/DiagnosticReport?based-on=ServiceRequest/${labOrder}`;
  const studySearch = `${emrUrl}/fhir/ImagingStudy?basedon=ServiceRequest/${imagingOrder}`;
  const started = Date.now();
  let report: string | undefined;
  let study: string | undefined;
  while (!(report && study)) {
    if (Date.now() - started > timeoutMs) {
      return [
        `Demo order for ${DEMO_PATIENT}: lab ServiceRequest/${labOrder}, imaging ServiceRequest/${imagingOrder}; after ${timeoutMs / 1000} s the EMR shows ${report ? `DiagnosticReport/${report}` : 'no DiagnosticReport'} and ${study ? `ImagingStudy/${study}` : 'no ImagingStudy'} yet`,
        `  the EMR's dead letters say why a result was refused: curl -s '${emrUrl}/api/messages/dead-letters/emr.order-results'`,
      ];
    }
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    report ??= await firstId(reportSearch);
    study ??= await firstId(studySearch);
  }
  const seconds = ((Date.now() - started) / 1000).toFixed(1);
  return [
    `Demo order for ${DEMO_PATIENT} closed the loop in ${seconds} s: lab ServiceRequest/${labOrder} → DiagnosticReport/${report} (analyzer over HL7 v2 MLLP), imaging ServiceRequest/${imagingOrder} → ImagingStudy/${study} (modality → Orthanc → PACS)`,
    `  curl -s '${emrUrl}/fhir/DiagnosticReport?patient=${DEMO_PATIENT}'   ·   curl -s '${emrUrl}/fhir/ImagingStudy?patient=${DEMO_PATIENT}'`,
  ];
}
