// `npm run test:docker`: the hospital in Docker Compose, end to end, on this machine.
//   1. a Docker engine (dockerd installed and started in the background when none answers);
//   2. the images compose.yaml names (stand-ins built from Debian's packages where no registry is
//      reachable; see images.ts) and the hospital's own image from docker/Dockerfile;
//   3. service keys (docker/keys/) and the development issuer's AUTH_JWKS;
//   4. `up` as project hospital-test with ports under HOSPITAL_PORT_PREFIX (2 by default: 28080, 23002…),
//      waiting until every container is healthy and the migrate job is done;
//   5. the README's flows over the published ports (flows.ts);
//   6. one fault trial per transaction style with a replica of its service killed (replica-trials.ts): the
//      EMR, the pharmacy, its supply chain, appointments, care-plans and the gateway run as two replicas
//      each (--scale), appointments confirming bookings to the simulated receivers;
//   7. `down -v`, always (also on Ctrl-C), unless --keep.
// Progress on stderr; the commands' own output in .hospital/docker-test.log; a summary at the end and a
// non-zero exit status on any failure.
//   node dist/scripts/docker/test-docker.js [--keep] [--until engine|images|build|up] [--prefix N]
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { devIssuerEnv } from '@hospital/platform';
import { portInUse } from '../lib/service-process';
import { devIssuerKeys, repositoryRoot, services } from '../services';
import { Compose } from './compose';
import { ensureEngine } from './engine';
import { runFlows, type CheckResult, type Urls } from './flows';
import { runReplicaTrials } from './replica-trials';
import { buildHospitalImage, ensureStandInImages, HOSPITAL_IMAGE, STAND_INS } from './images';
import { formatDuration, run } from './process';

const STEPS = ['engine', 'images', 'build', 'up', 'flows', 'trials'] as const;
type Step = (typeof STEPS)[number];

const PROJECT = 'hospital-test';
const COMPOSE_FILE = 'docker/compose.yaml';
/** Containers that run once and exit (compose.yaml's migrate job). */
const ONE_SHOT = new Set(['migrate']);
/** The services run as two replicas (`up --scale`): stateless, sharing PostgreSQL, RabbitMQ and Redis. */
const SCALE: Readonly<Record<string, number>> = {
  emr: 2,
  pharmacy: 2,
  'pharmacy-supply-chain': 2,
  appointments: 2,
  'care-plans': 2,
  gateway: 2,
};
/** Services compose.yaml publishes no port of (reached through the gateway); the gateway's second replica's. */
const UNPUBLISHED = new Set(['emr', 'pharmacy', 'pharmacy-supply-chain', 'appointments', 'care-plans']);
/** The simulated confirmation receivers' view, published beside the services' ports. */
const RECEIVERS_VIEW_PORT = 3061;
const GATEWAY_SECOND_PORT = 8081;
/** Backing services' ports compose.yaml publishes (with the prefix in front), beside every service's own. */
const INFRA_PORTS = [5432, 1883, 8042, 4242, 2575];
/** Variables compose.yaml reads that the test sets itself or wants at their defaults. */
const COMPOSE_VARIABLES = [
  'HOSPITAL_PORT_PREFIX',
  'HOSPITAL_BIND',
  'HOSPITAL_IMAGE_TAG',
  'HOSPITAL_SEED',
  'POSTGRES_PASSWORD',
  'PG_POOL_SIZE',
  'AUTH_JWKS',
  'AUTH_ISSUER',
  'LOG_LEVEL',
  'ANALYZER_MLLP_HOST',
  'ANALYZER_MLLP_PORT',
  'CONFIRM_CLINICIAN_CHANNELS',
  'CONFIRM_PATIENT_CHANNELS',
  'SMTP_URL',
  'SMS_GATEWAY_URL',
  'PUSH_GATEWAY_URL',
  'COMPOSE_PROJECT_NAME',
  'COMPOSE_FILE',
];

const began = Date.now();
const log = (line: string): void =>
  void process.stderr.write(`docker-test: [${formatDuration(Date.now() - began).padStart(9)}] ${line}\n`);

interface Options {
  keep: boolean;
  until: Step;
  prefix: string;
}

function parseOptions(argv: string[]): Options {
  const options: Options = { keep: false, until: 'trials', prefix: process.env.HOSPITAL_PORT_PREFIX ?? '2' };
  for (let i = 0; i < argv.length; i += 1) {
    const [name, inline] = argv[i].split('=', 2) as [string, string | undefined];
    const value = (): string => inline ?? argv[(i += 1)] ?? '';
    if (name === '--keep') options.keep = true;
    else if (name === '--until') {
      const step = value();
      if (!(STEPS as readonly string[]).includes(step)) usage(`--until takes one of ${STEPS.join(', ')}`);
      options.until = step as Step;
    } else if (name === '--prefix') options.prefix = value();
    else usage(`unknown argument ${argv[i]}`);
  }
  // One digit in front of four-digit ports, below the ephemeral range (32768+).
  if (!/^[12]$/.test(options.prefix)) usage('the port prefix must be 1 or 2 (ports 1xxxx or 2xxxx)');
  return options;
}

function usage(message: string): never {
  process.stderr.write(
    `docker-test: ${message}\nusage: node dist/scripts/docker/test-docker.js [--keep] [--until ${STEPS.join('|')}] [--prefix 1|2]\n`,
  );
  process.exit(2);
}

/** docker/keys/<service>.env for every service, made (all anew, so they agree) when any is missing. */
async function ensureServiceKeys(root: string, logFile: string): Promise<void> {
  const folder = join(root, 'docker', 'keys');
  const missing = services.filter((s) => !existsSync(join(folder, `${s.name}.env`))).map((s) => s.name);
  if (missing.length === 0) {
    log(`service keys: docker/keys/ has all ${services.length}`);
    return;
  }
  log(`service keys: ${missing.length} missing in docker/keys/; making a new set of ${services.length}`);
  await run(
    [process.execPath, join(root, 'dist', 'scripts', 'service-keys.js'), '--out', folder, '--force'],
    { logFile, cwd: root },
  );
}

interface StepResult {
  name: string;
  ok: boolean;
  detail: string;
}

interface Summary {
  steps: StepResult[];
  checks: CheckResult[];
  /** `down -v`, when the hospital was brought up. */
  teardown?: StepResult;
}

function printSummary(summary: Summary): number {
  const lines = ['', 'Docker Compose test of the hospital:'];
  for (const step of summary.steps) lines.push(`  ${step.ok ? 'ok  ' : 'FAIL'} ${step.name}: ${step.detail}`);
  for (const check of summary.checks)
    lines.push(
      `  ${check.ok ? 'ok  ' : 'FAIL'} ${check.name} (${formatDuration(check.ms)}): ${check.detail}`,
    );
  const { teardown } = summary;
  if (teardown) lines.push(`  ${teardown.ok ? 'ok  ' : 'FAIL'} ${teardown.name}: ${teardown.detail}`);
  const all = [...summary.steps, ...summary.checks, ...(teardown ? [teardown] : [])];
  const failed = all.filter((r) => !r.ok).length;
  lines.push('', `docker: ${all.length - failed} passed, ${failed} failed`, '');
  process.stdout.write(lines.join('\n'));
  return failed;
}

/** `down -v`, and no container of the project left. */
async function takeDown(compose: Compose): Promise<StepResult> {
  const started = Date.now();
  try {
    await compose.down();
    const left = await compose.containers();
    if (left.length > 0)
      throw new Error(`${left.length} container(s) left: ${left.map((c) => c.service).join(', ')}`);
    const detail = `containers, network and volumes removed (${formatDuration(Date.now() - started)})`;
    return { name: 'compose down -v', ok: true, detail };
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    log(`down failed: ${message}`);
    return { name: 'compose down -v', ok: false, detail: message.split('\n')[0] };
  }
}

async function main(): Promise<Summary> {
  const options = parseOptions(process.argv.slice(2));
  const root = repositoryRoot();
  mkdirSync(join(root, '.hospital'), { recursive: true });
  const logFile = join(root, '.hospital', 'docker-test.log');
  writeFileSync(logFile, `docker-test started ${new Date().toISOString()}\n`);
  log(`commands' output: ${logFile}`);
  const summary: Summary = { steps: [], checks: [] };
  const step = async <T>(name: string, work: () => Promise<[T, string]>): Promise<T> => {
    const started = Date.now();
    try {
      const [value, detail] = await work();
      summary.steps.push({ name, ok: true, detail: `${detail} (${formatDuration(Date.now() - started)})` });
      return value;
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      summary.steps.push({ name, ok: false, detail: message.split('\n')[0] });
      log(`${name} failed: ${message}`);
      throw error;
    }
  };

  let compose: Compose | undefined;
  let interrupted = false;
  const interruption = new AbortController();
  const onSignal = (signal: NodeJS.Signals): void => {
    if (interrupted) {
      log(`${signal}: still stopping; the hospital is being taken down`);
      return;
    }
    interrupted = true;
    log(`${signal}: stopping the current step and taking the hospital down`);
    interruption.abort();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  const stopIfInterrupted = (): void => {
    if (interrupted) throw new Error('interrupted');
  };

  let upStarted = false;
  try {
    const engine = await step('Docker engine', async () => {
      const found = await ensureEngine(log, logFile);
      return [found, `${found.version}${found.started ? ', started by this run' : ''}`];
    });
    if (options.until === 'engine') return summary;
    stopIfInterrupted();

    const context = { root, env: engine.env, log, logFile, signal: interruption.signal };
    await step('images of compose.yaml', async () => {
      await ensureStandInImages(context);
      return [undefined, STAND_INS.map((s) => s.tag).join(', ')];
    });
    if (options.until === 'images') return summary;
    stopIfInterrupted();

    await step('hospital image', async () => {
      await buildHospitalImage(context);
      return [undefined, `${HOSPITAL_IMAGE} from docker/Dockerfile`];
    });
    if (options.until === 'build') return summary;
    stopIfInterrupted();

    const issuer = devIssuerEnv(devIssuerKeys());
    const env: NodeJS.ProcessEnv = { ...engine.env };
    for (const name of COMPOSE_VARIABLES) delete env[name];
    Object.assign(env, {
      HOSPITAL_PORT_PREFIX: options.prefix,
      HOSPITAL_BIND: '127.0.0.1',
      // Confirmations of bookings to the simulated receivers (the best-effort trial counts them there).
      CONFIRM_CLINICIAN_CHANNELS: 'email',
      CONFIRM_PATIENT_CHANNELS: 'sms,push',
      AUTH_JWKS: issuer.AUTH_JWKS,
      AUTH_ISSUER: issuer.AUTH_ISSUER,
    });
    compose = await Compose.detect({
      file: COMPOSE_FILE,
      project: PROJECT,
      cwd: root,
      env,
      log,
      logFile,
      signal: interruption.signal,
    });
    const published = (port: number): number => Number(`${options.prefix}${port}`);
    const project = compose;

    await step('compose up, every container healthy', async () => {
      log(`${project.name} ${project.version}, project ${PROJECT}, ports ${options.prefix}xxxx on 127.0.0.1`);
      await ensureServiceKeys(root, logFile);
      // Whatever an earlier run left behind goes first, volumes included.
      await project.down();
      const taken: string[] = [];
      const ports = services.filter((s) => !UNPUBLISHED.has(s.name)).map((s) => s.port);
      for (const port of [...ports, GATEWAY_SECOND_PORT, RECEIVERS_VIEW_PORT, ...INFRA_PORTS])
        if (await portInUse(published(port))) taken.push(String(published(port)));
      if (taken.length > 0)
        throw new Error(
          `port(s) ${taken.join(', ')} on 127.0.0.1 are taken: stop what listens there or choose --prefix ${options.prefix === '2' ? '1' : '2'}`,
        );
      upStarted = true;
      try {
        await project.upAndWait(ONE_SHOT, 900_000, SCALE);
      } catch (error) {
        const states = await project.containers();
        const bad = states.filter((c) => !/\(healthy\)|^Exited \(0\)/.test(c.status)).map((c) => c.service);
        const logs = await project.logs(bad.length > 0 ? bad.slice(0, 4) : ['migrate']);
        log(`containers: ${states.map((c) => `${c.service} ${c.status}`).join('; ')}\n${logs}`);
        throw error;
      }
      const migrated = (await project.logs(['migrate'], 15))
        .split('\n')
        .find((l) => l.includes('databases ready'));
      const count = (await project.services()).length;
      const containers = (await project.containers()).length;
      const scaled = Object.entries(SCALE).map(([service, n]) => `${n}× ${service}`);
      return [
        undefined,
        `${count} services in ${containers} containers (${scaled.join(', ')})${migrated ? `; ${migrated.replace(/^.*migrate: /, 'migrate: ')}` : ''}`,
      ];
    });
    if (options.until === 'up') return summary;
    stopIfInterrupted();

    const url = (port: number): string => `http://127.0.0.1:${published(port)}`;
    const urls: Urls = {
      gateway: url(8080),
      lis: url(3002),
      pacs: url(3003),
      'pharmacy-inventory': url(3041),
    };
    log(`flows against the gateway on ${urls.gateway}`);
    const report = (result: CheckResult): void =>
      log(`${result.ok ? 'ok' : 'FAIL'}: ${result.name} (${formatDuration(result.ms)}): ${result.detail}`);
    summary.checks = await runFlows(urls, report);
    // The second gateway replica answers the README's first flows as well.
    summary.checks.push(
      ...(await runFlows({ ...urls, gateway: url(GATEWAY_SECOND_PORT) }, report, { only: 'read' })).map(
        (check) => ({ ...check, name: `second gateway replica: ${check.name}` }),
      ),
    );
    if (options.until === 'flows') return summary;
    stopIfInterrupted();

    log('fault trials: one per transaction style, a replica of its service killed in each');
    summary.checks.push(
      ...(await runReplicaTrials(
        {
          compose: project,
          published: (service) =>
            url(
              service === 'confirmation-receivers'
                ? RECEIVERS_VIEW_PORT
                : (services.find((s) => s.name === service)?.port ?? 0),
            ),
          postgres: {
            host: '127.0.0.1',
            port: published(5432),
            user: 'postgres',
            // compose.yaml's default: the test leaves POSTGRES_PASSWORD unset (COMPOSE_VARIABLES).
            password: 'hospital',
          },
          log,
        },
        report,
      )),
    );
    return summary;
  } catch {
    return summary;
  } finally {
    if (compose && upStarted) {
      const down = `${compose.name} -p ${PROJECT} -f ${COMPOSE_FILE} down -v`;
      if (options.keep && !interrupted) {
        log(`--keep: the hospital stays up (project ${PROJECT}); take it down with: ${down}`);
      } else {
        log(`taking the hospital down: ${down}`);
        summary.teardown = await takeDown(compose);
      }
    }
  }
}

main().then(
  (summary) => process.exit(printSummary(summary) > 0 ? 1 : 0),
  (error: unknown) => {
    log(`error: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
    process.exit(1);
  },
);
