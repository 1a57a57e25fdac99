// `npm run demo`: prepares the infrastructure, seeds the demo hospital, starts every service and prints
// where to look. Runs until Ctrl-C, then stops the services gracefully.
import { devRoleFor, ROLES } from '@hospital/platform';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ensureInfrastructure, InfrastructureError } from './infra/index';
import { ensureOrthanc } from './infra/orthanc';
import { BedsideSimulator, unitBeds } from './lib/bedside-simulator';
import type { ConfirmationSinks } from './lib/confirmation-sinks';
import { appointmentsBanner, seedDemoSlots, startConfirmationSinks } from './lib/demo-appointments';
import { demoOrderRoundTrip, departmentEnv, DepartmentSimulators } from './lib/demo-departments';
import { seedDemoRecords, seedReferenceData } from './lib/demo-seed';
import { ScenarioDriver } from './lib/demo-scenario';
import { demoConsult } from './lib/demo-telemedicine';
import { ServiceProcess, ServiceStartError } from './lib/service-process';
import { repositoryRoot, serviceEntry, serviceEnv, services, devAuthorization } from './services';

const log = (line: string): void => void process.stderr.write(`demo: ${line}\n`);

/** The demo hospital's records and the reference data every service needs (idempotent upserts). */
async function seed(): Promise<void> {
  await seedDemoRecords(log);
  await seedReferenceData(log);
}

/** Six ICU beds, two of them with a deteriorating patient, one round of vitals every five seconds. */
const DEMO_BEDS = unitBeds(6, 2, 'pat-icu');
const BEDSIDE_ROUND_MS = 5_000;

/** Admits the demo's ICU patients and starts their bedside monitors publishing over MQTT. */
async function startBedside(monitorUrl: string, mqttUrl: string): Promise<BedsideSimulator> {
  for (const bed of DEMO_BEDS) {
    const response = await fetch(`${monitorUrl}/api/beds/${bed.bedId}/admission`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json', authorization: devAuthorization('clinician') },
      body: JSON.stringify({ patientId: bed.patientId, spo2Scale: 1 }),
    });
    // 409: the patient is in the bed already (a demo run before this one).
    if (!response.ok && response.status !== 409)
      throw new Error(`admitting a demo patient to ${bed.bedId}: HTTP ${response.status}`);
  }
  const bedside = new BedsideSimulator({
    url: mqttUrl,
    prefix: 'icu',
    beds: DEMO_BEDS,
    runId: `demo-${Date.now()}`,
    roundMs: BEDSIDE_ROUND_MS,
  });
  await bedside.connect();
  void bedside
    .run(0, BEDSIDE_ROUND_MS)
    .catch((error: unknown) => log(`bedside monitors stopped: ${String(error)}`));
  return bedside;
}

async function main(): Promise<void> {
  await ensureInfrastructure({ log });
  // Started with the infrastructure already; this only answers its URL (the PACS's archive).
  const orthancUrl = await ensureOrthanc(log);
  await seed();
  const running: ServiceProcess[] = [];
  /** Set once the services are up; stopped first on Ctrl-C. */
  const extras: {
    bedside?: BedsideSimulator;
    confirmations?: ConfirmationSinks;
    departments?: DepartmentSimulators;
    scenario?: ScenarioDriver;
  } = {};
  const stop = async () => {
    log('stopping services…');
    extras.scenario?.stop();
    await extras.bedside?.close();
    await extras.departments?.stop();
    await Promise.all(running.map((s) => s.stop()));
    await extras.confirmations?.stop();
    process.exit(0);
  };
  process.once('SIGINT', () => void stop());
  process.once('SIGTERM', () => void stop());
  // The appointments service's confirmations go to these receivers, on its default ports.
  extras.confirmations = await startConfirmationSinks(log);
  // The analyzer the LIS sends orders to and the modality reading the archive's worklist.
  extras.departments = await DepartmentSimulators.start(orthancUrl, log);
  const departments = departmentEnv(orthancUrl);
  for (const service of services) {
    log(`starting ${service.name} on port ${service.port}…`);
    running.push(
      await ServiceProcess.start({
        name: service.name,
        entry: serviceEntry(service.name),
        env: serviceEnv(service.name, departments[service.name]),
        port: service.port,
        cwd: repositoryRoot(),
      }),
    );
  }
  // Fail early if an example the banner points to is missing.
  for (const example of ['record-update.json', 'medication-dispense.json'])
    readFileSync(join(repositoryRoot(), 'docs', 'examples', example));
  const url = (port: number) => `http://127.0.0.1:${port}`;
  extras.bedside = await startBedside(url(3005), process.env.MQTT_URL ?? 'mqtt://127.0.0.1:1883');
  const slots = await seedDemoSlots(url(3006));
  log(
    `appointments: ${slots.total} slots of the demo practitioners from ${slots.firstDay} (${slots.created} new)`,
  );
  const appointments = await appointmentsBanner(url(3006), extras.confirmations, slots);
  const consult = await demoConsult({ telemedicine: url(3008), emr: url(3001), referralInbox: url(3081) });
  process.stdout.write(
    withTokens([
      '',
      'The demo hospital is running:',
      ...services.map((s) => `  ${s.name.padEnd(21)} ${url(s.port)}   (OpenAPI ${url(s.port)}/api/docs)`),
      '',
      'Every route but health, metrics and /fhir/metadata needs a token of the development issuer:',
      '  export TOKEN=$(npm run -s token -- --role clinician) ADMIN=$(npm run -s token -- --role administrator)',
      '',
      'Seeded patients pat-0001…pat-0003, practitioners prac-0001/0002, encounters enc-0001/0002. Try:',
      `  curl -s ${url(3001)}/fhir/Patient/pat-0001`,
      `  curl -s '${url(3002)}/fhir/Patient?name=okafor'`,
      '',
      'A record update (patient + encounter + lab order → LIS + imaging order → PACS, by two-phase commit):',
      `  curl -s -X POST ${url(3001)}/fhir -H 'content-type: application/fhir+json' --data @docs/examples/record-update.json`,
      `  curl -s '${url(3001)}/api/transactions?limit=5'`,
      '',
      'A dispense (→ outbox → RabbitMQ → inventory; a low stock line reorders from the supplier by two-phase message):',
      `  curl -s -X POST ${url(3004)}/fhir/MedicationDispense -H 'content-type: application/fhir+json' --data @docs/examples/medication-dispense.json`,
      `  curl -s '${url(3041)}/api/inventory/197361?location=ward-3a'`,
      `  curl -s '${url(3042)}/fhir/SupplyRequest?_count=5'   ·   ${url(3004)}/api/messages/outbox`,
      '',
      `ICU: beds ICU-01…06 publish vitals over MQTT every ${BEDSIDE_ROUND_MS / 1000} s; ICU-01 and ICU-02 deteriorate (NEWS2 alerts within a minute):`,
      `  curl -s '${url(3005)}/fhir/RiskAssessment?_count=5'   ·   curl -s '${url(3005)}/fhir/Flag?_count=5'`,
      `  curl -s '${url(3051)}/api/alerts'   (the central monitoring station, by best-effort notification)`,
      '',
      ...appointments,
      '',
      ...consult,
      '',
      'Laboratory and imaging: a blood count and a chest X-ray for pat-0001 are ordered now; the analyzer answers',
      'over HL7 v2 (MLLP) and the modality stores a study in Orthanc (http://127.0.0.1:8042); the EMR shows both:',
      `  curl -s '${url(3001)}/fhir/DiagnosticReport?patient=pat-0001'   ·   curl -s '${url(3001)}/fhir/ImagingStudy?patient=pat-0001'`,
      '',
      `Health ${url(3001)}/health/ready · metrics ${url(3001)}/metrics · Ctrl-C stops everything.`,
      '',
    ]).join('\n'),
  );
  process.stdout.write(`${consoleBanner(url(8080)).join('\n')}\n`);
  extras.scenario = new ScenarioDriver(
    {
      emr: url(3001),
      pharmacy: url(3004),
      supplyChain: url(3042),
      appointments: url(3006),
      carePlans: url(3007),
      telemedicine: url(3008),
      icuStation: url(3051),
      inventory: url(3041),
    },
    log,
  );
  await extras.scenario.start();
  demoOrderRoundTrip(url(3001)).then(
    (lines) => process.stdout.write(`${withTokens(lines).join('\n')}\n`),
    (error: unknown) =>
      log(`the demo order did not complete: ${error instanceof Error ? error.message : String(error)}`),
  );
}

/** The console's address, with a sign-in link per demo role (a development token in the URL fragment). */
function consoleBanner(gateway: string): string[] {
  return [
    `The operations console: ${gateway}/console/ — sign in with a link (a 12-hour development token):`,
    ...ROLES.map(
      (role) =>
        `  ${role.padEnd(14)} ${gateway}/console/#token=${devAuthorization(role).slice('Bearer '.length)}`,
    ),
    'A scenario driver keeps every workflow running (progress below every 10 s; some plans fail on purpose).',
    '',
  ];
}

/** The banner's curl commands with the token each needs: `$ADMIN` on the admin APIs, `$TOKEN` elsewhere. */
function withTokens(lines: string[]): string[] {
  return lines.map((line) =>
    line.replace(/curl -s ([^·]*)/g, (_command, rest: string) =>
      devRoleFor(rest) === 'administrator'
        ? `curl -s -H "authorization: Bearer $ADMIN" ${rest}`
        : `curl -s -H "authorization: Bearer $TOKEN" ${rest}`,
    ),
  );
}

main().catch((error: unknown) => {
  const message =
    error instanceof InfrastructureError || error instanceof ServiceStartError
      ? error.message
      : error instanceof Error
        ? error.message
        : String(error);
  log(`error: ${message}`);
  process.exit(1);
});
