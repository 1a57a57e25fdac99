// `node dist/scripts/bedside.js [--beds=12] [--rate=1] ...`: bedside monitors publishing the ICU's vitals to
// the monitor's MQTT feed (QoS 1) until stopped (Ctrl-C) or for --duration seconds. See
// scripts/lib/bedside-simulator.ts and apps/icu-monitor/README.md. A bad command line: one line on
// stderr and exit status 2.
import { randomUUID } from 'node:crypto';
import { BedsideSimulator, unitBeds } from './lib/bedside-simulator';
import { devAuthorization } from './services';

interface Option {
  default: string;
  description: string;
  check: (value: string) => string | undefined;
}

const wholeIn = (min: number, max: number) => (v: string) =>
  /^\d+$/.test(v) && Number(v) >= min && Number(v) <= max
    ? undefined
    : `a whole number from ${min} to ${max}`;
const numberIn = (min: number, max: number) => (v: string) =>
  /^(\d+(\.\d*)?|\.\d+)$/.test(v) && Number(v) >= min && Number(v) <= max
    ? undefined
    : `a number from ${min} to ${max}`;

const OPTIONS: Record<string, Option> = {
  beds: { default: '12', description: 'beds ICU-01… publishing', check: wholeIn(1, 12) },
  rate: {
    default: '1',
    description: 'rounds per second (each round: every vital of every bed)',
    check: numberIn(0.01, 1_000),
  },
  deteriorating: {
    default: '2',
    description: 'of those beds, how many patients deteriorate',
    check: wholeIn(0, 12),
  },
  duration: { default: '0', description: 'seconds to run (0: until Ctrl-C)', check: numberIn(0, 86_400) },
  url: {
    default: 'mqtt://127.0.0.1:1883',
    description: 'the broker',
    check: (v) => (/^mqtts?:\/\/\S+$/.test(v) ? undefined : 'mqtt://host:port'),
  },
  prefix: {
    default: 'icu',
    description: "topics' first level (the monitor's MQTT_TOPIC_PREFIX)",
    check: (v) => (/^[A-Za-z0-9_-]{1,64}$/.test(v) ? undefined : 'one topic level'),
  },
  monitor: {
    default: '',
    description: "admit each bed's patient first through this monitor (e.g. http://127.0.0.1:3005)",
    check: (v) => (v === '' || /^https?:\/\/\S+$/.test(v) ? undefined : 'an http(s) URL'),
  },
};

function usage(): string {
  const lines = ['usage: node dist/scripts/bedside.js [options]', '', 'options:'];
  for (const [name, o] of Object.entries(OPTIONS)) {
    lines.push(
      `  --${name}=<value>`.padEnd(28) +
        `${o.description} (default ${o.default === '' ? 'none' : o.default})`,
    );
  }
  return lines.join('\n');
}

function fail(message: string): never {
  process.stderr.write(`bedside: ${message}\n`);
  process.exit(2);
}

function parse(argv: readonly string[]): Record<keyof typeof OPTIONS, string> {
  const values: Record<string, string> = Object.fromEntries(
    Object.entries(OPTIONS).map(([n, o]) => [n, o.default]),
  );
  const seen = new Set<string>();
  for (const arg of argv) {
    if (arg === '--help' || arg === '-h') {
      process.stdout.write(`${usage()}\n`);
      process.exit(0);
    }
    const match = /^--([a-z]+)=(.*)$/.exec(arg);
    if (!match) fail(`malformed argument '${arg}' (expected --name=value; try --help)`);
    const [, name, value] = match;
    const option = OPTIONS[name];
    if (option === undefined)
      fail(
        `unknown option '--${name}' (known: ${Object.keys(OPTIONS)
          .map((n) => `--${n}`)
          .join(', ')})`,
      );
    if (seen.has(name)) fail(`--${name} given twice`);
    seen.add(name);
    const problem = option.check(value);
    if (problem !== undefined) fail(`--${name} must be ${problem}, got '${value}'`);
    values[name] = value;
  }
  if (Number(values.deteriorating) > Number(values.beds)) fail('--deteriorating cannot exceed --beds');
  return values;
}

async function main(): Promise<void> {
  const args = parse(process.argv.slice(2));
  const beds = unitBeds(Number(args.beds), Number(args.deteriorating));
  if (args.monitor !== '') {
    for (const bed of beds) {
      const response = await fetch(`${args.monitor}/api/beds/${bed.bedId}/admission`, {
        method: 'PUT',
        headers: { 'content-type': 'application/json', authorization: devAuthorization('clinician') },
        body: JSON.stringify({ patientId: bed.patientId, spo2Scale: 1 }),
      });
      if (!response.ok) throw new Error(`admitting to ${bed.bedId}: HTTP ${response.status}`);
    }
  }
  const simulator = new BedsideSimulator({
    url: args.url,
    prefix: args.prefix,
    beds,
    runId: randomUUID().slice(0, 8),
  });
  await simulator.connect();
  const intervalMs = 1_000 / Number(args.rate);
  const rounds =
    Number(args.duration) === 0 ? 0 : Math.max(1, Math.round(Number(args.duration) * Number(args.rate)));
  process.once('SIGINT', () => simulator.stop());
  process.once('SIGTERM', () => simulator.stop());
  const report = setInterval(
    () => process.stderr.write(`bedside: ${simulator.published} vitals published\n`),
    5_000,
  );
  await simulator.run(rounds, intervalMs);
  clearInterval(report);
  await simulator.close();
  process.stdout.write(`${JSON.stringify({ beds: beds.length, published: simulator.published })}\n`);
}

main().catch((error: unknown) => {
  process.stderr.write(`bedside: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
