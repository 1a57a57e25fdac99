// A laboratory analyzer (or its middleware) on MLLP, for the LIS's tests, the demo, the bench and the fault
// runs: it takes OML^O21 / ORM^O01 orders on its own port, answers each (AA, or AE / AR / a dropped
// connection when told to), recognises a resent order by its MSH-10, and after a delay sends an ORU^R01
// with plausible results for the ordered panel to the LIS's listener, again until the LIS answers AA.
// Counters say how many distinct orders arrived and how many results were acknowledged, so a run can
// check "exactly once". Synthetic values only. CLI: `node dist/scripts/lib/analyzer-simulator.js
// --port 2576 --lis-port 2575 [--lis-host 127.0.0.1] [--delay-ms 500]`.
import { createHash } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { once } from 'node:events';
import { formatHl7DateTime, Hl7Message, Hl7Segment } from '@medplum/core';
import { Hl7Client, Hl7Connection, Hl7MessageEvent, Hl7Server } from '@medplum/hl7';

/** How the simulated analyzer answers an order. */
export type OrderAnswer = 'AA' | 'AE' | 'AR' | 'drop';

/** One analyte of a panel: LOINC code, name, UCUM unit, value, reference range. */
interface Analyte {
  code: string;
  name: string;
  unit: string;
  value: number;
  low: number;
  high: number;
}

/** Panels the simulator knows (LOINC), with plausible normal values. */
export const PANELS: Record<string, { name: string; analytes: Analyte[] }> = {
  '58410-2': {
    name: 'CBC panel - Blood by Automated count',
    analytes: [
      { code: '718-7', name: 'Hemoglobin', unit: 'g/dL', value: 13.8, low: 12, high: 16 },
      { code: '6690-2', name: 'Leukocytes', unit: '10*3/uL', value: 6.4, low: 4, high: 11 },
      { code: '777-3', name: 'Platelets', unit: '10*3/uL', value: 251, low: 150, high: 400 },
    ],
  },
  '51990-0': {
    name: 'Basic metabolic panel - Blood',
    analytes: [
      { code: '2951-2', name: 'Sodium', unit: 'mmol/L', value: 140, low: 135, high: 145 },
      { code: '2823-3', name: 'Potassium', unit: 'mmol/L', value: 4.2, low: 3.5, high: 5.1 },
      { code: '2345-7', name: 'Glucose', unit: 'mg/dL', value: 92, low: 70, high: 99 },
    ],
  },
};

/** An order as the analyzer received it. */
export interface ReceivedOrder {
  controlId: string;
  /** ORC-2 / OBR-2: the LIS's order number. */
  placerOrderNumber: string;
  /** OBR-4: the panel's LOINC code. */
  panel: string;
  /** PID-3 as sent (echoed back in the result). */
  patientIdentifiers: string;
}

/** The id a result message of `order` with `status` carries in MSH-10: the same on every resend. */
export function resultControlId(order: Pick<ReceivedOrder, 'placerOrderNumber'>, status: string): string {
  return `R${createHash('sha256').update(`${order.placerOrderNumber}|${status}`).digest('hex').slice(0, 19)}`;
}

/** A segment with the given fields (by HL7 position) set and the others empty. */
function segment(name: string, fields: Record<number, string>): Hl7Segment {
  const last = Math.max(...Object.keys(fields).map(Number));
  return new Hl7Segment([name, ...Array.from({ length: last }, (_, i) => fields[i + 1] ?? '')]);
}

/** An ORU^R01 v2.5.1 for `order`: MSH, PID, OBR (placer number, panel, status), one OBX per analyte. */
export function buildOruR01(
  order: Pick<ReceivedOrder, 'placerOrderNumber' | 'panel'> & { patientIdentifiers?: string },
  options: { status?: 'F' | 'P' | 'C'; controlId?: string; now?: Date } = {},
): Hl7Message {
  const status = options.status ?? 'F';
  const now = formatHl7DateTime(options.now ?? new Date());
  const panel = PANELS[order.panel] ?? {
    name: 'Laboratory test',
    analytes: [{ code: order.panel, name: 'Result', unit: '1', value: 1, low: 0, high: 2 }],
  };
  const obx = panel.analytes.map(
    (a, i) =>
      new Hl7Segment([
        'OBX',
        String(i + 1),
        'NM',
        `${a.code}^${a.name}^LN`,
        '',
        String(a.value),
        `${a.unit}^${a.unit}^UCUM`,
        `${a.low}-${a.high}`,
        'N',
        '',
        '',
        status,
        '',
        '',
        now,
      ]),
  );
  return new Hl7Message([
    new Hl7Segment([
      'MSH',
      '^~\\&',
      'ANALYZER',
      'LAB',
      'HOSPITAL_LIS',
      'HOSPITAL',
      now,
      '',
      'ORU^R01^ORU_R01',
      options.controlId ?? resultControlId(order, status),
      'P',
      '2.5.1',
    ]),
    new Hl7Segment(['PID', '1', '', order.patientIdentifiers ?? '']),
    segment('OBR', {
      1: '1',
      2: `${order.placerOrderNumber}^HOSPITAL_LIS`,
      4: `${order.panel}^${panel.name}^LN`,
      7: now,
      22: now,
      25: status,
    }),
    ...obx,
  ]);
}

/** Sends one message to an MLLP listener and resolves with its ACK (rejects on no answer in `timeoutMs`). */
export async function sendHl7(
  host: string,
  port: number,
  message: Hl7Message | string,
  timeoutMs = 10_000,
): Promise<Hl7Message> {
  const client = new Hl7Client({ host, port, connectTimeout: timeoutMs });
  client.addEventListener('error', () => undefined);
  try {
    const parsed = typeof message === 'string' ? Hl7Message.parse(message) : message;
    const connection = await client.connect();
    const ack = connection.sendAndWait(parsed); // no library timer: it outlives an early ACK
    const timer = setTimeout(() => void client.close(), timeoutMs); // closing rejects the wait
    return await ack.finally(() => clearTimeout(timer));
  } finally {
    await client.close().catch(() => undefined);
  }
}

export interface AnalyzerSimulatorOptions {
  /** The analyzer's order port (0: any free one; see `port`). */
  port?: number;
  /** The LIS's MLLP listener for results. */
  lisHost?: string;
  lisPort: number;
  /** How long after an order its result goes out. */
  resultDelayMs?: number;
  /** Wait between resends of a result the LIS did not accept. */
  retryMs?: number;
  /** How orders are answered (changeable with `answer`). */
  answer?: OrderAnswer;
  /**
   * Awaited just before each send of a result (resends included): a fault run injects its fault here, e.g.
   * kills the LIS while the analyzer is about to deliver. Not called once the simulator is stopped.
   */
  beforeResult?: (order: ReceivedOrder, attempt: number) => Promise<void>;
}

/** Counters of a run: what "exactly once" is checked against. */
export interface AnalyzerCounters {
  /** Order messages received, resends included. */
  orderMessages: number;
  /** Distinct orders accepted (by MSH-10). */
  ordersReceived: number;
  /** Results the LIS acknowledged with AA. */
  resultsAcknowledged: number;
  /** Answers of the LIS other than AA to a result (AE / AR), and sends that got no answer. */
  resultsRefused: { AE: number; AR: number; noAnswer: number };
}

/** A simulated analyzer: an MLLP server for orders and an MLLP client of the LIS for results. */
export class AnalyzerSimulator {
  private server?: Hl7Server;
  private boundPort = 0;
  private mode: OrderAnswer;
  private stopped = false;
  private readonly seen = new Set<string>();
  private readonly pendingResults = new Set<Promise<void>>();
  /** Every distinct order accepted, in arrival order. */
  readonly orders: ReceivedOrder[] = [];
  readonly counters: AnalyzerCounters = {
    orderMessages: 0,
    ordersReceived: 0,
    resultsAcknowledged: 0,
    resultsRefused: { AE: 0, AR: 0, noAnswer: 0 },
  };

  constructor(private readonly options: AnalyzerSimulatorOptions) {
    this.mode = options.answer ?? 'AA';
  }

  get port(): number {
    return this.boundPort;
  }

  /** From now on, answer orders with `mode`. */
  answer(mode: OrderAnswer): void {
    this.mode = mode;
  }

  /** Starts (or, after `stop`, starts again on the same port) taking orders; it remembers the MSH-10s seen. */
  async start(): Promise<void> {
    this.stopped = false;
    const server = new Hl7Server((connection) => {
      connection.addEventListener('error', () => undefined);
      connection.addEventListener('message', (event: Hl7MessageEvent) =>
        this.onOrder(connection, event.message),
      );
    });
    server.start(this.options.port ?? 0);
    this.server = server;
    const net = server.server;
    if (net && !net.listening) await once(net, 'listening');
    this.boundPort = (net?.address() as AddressInfo).port;
  }

  /** Resolves once every result sent so far has been acknowledged (or the simulator stopped). */
  async settled(): Promise<void> {
    while (this.pendingResults.size > 0) await Promise.allSettled([...this.pendingResults]);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.server?.stop({ forceDrainTimeoutMs: 0 }).catch(() => undefined);
    this.server = undefined;
    await Promise.allSettled([...this.pendingResults]);
  }

  private onOrder(connection: Hl7Connection, message: Hl7Message): void {
    this.counters.orderMessages += 1;
    const mode = this.mode;
    if (mode === 'drop') {
      void connection.close();
      return;
    }
    if (mode !== 'AA') {
      connection.send(message.buildAck({ ackCode: mode }));
      return;
    }
    const controlId = message.getSegment('MSH')?.getField(10)?.toString() ?? '';
    const obr = message.getSegment('OBR');
    const order: ReceivedOrder = {
      controlId,
      placerOrderNumber: obr?.getField(2)?.getComponent(1) ?? '',
      panel: obr?.getField(4)?.getComponent(1) ?? '',
      patientIdentifiers: message.getSegment('PID')?.getField(3)?.toString() ?? '',
    };
    connection.send(message.buildAck({ ackCode: 'AA' }));
    if (this.seen.has(controlId)) return;
    this.seen.add(controlId);
    this.counters.ordersReceived += 1;
    this.orders.push(order);
    const work = this.deliverResult(order);
    this.pendingResults.add(work);
    void work.finally(() => this.pendingResults.delete(work));
  }

  private async deliverResult(order: ReceivedOrder): Promise<void> {
    await delay(this.options.resultDelayMs ?? 0);
    const message = buildOruR01(order);
    for (let attempt = 1; !this.stopped; attempt += 1) {
      try {
        await this.options.beforeResult?.(order, attempt);
        const ack = await sendHl7(this.options.lisHost ?? '127.0.0.1', this.options.lisPort, message);
        const code = ack.getSegment('MSA')?.getField(1)?.toString() ?? '';
        if (code === 'AA') {
          this.counters.resultsAcknowledged += 1;
          return;
        }
        if (code === 'AE' || code === 'AR') this.counters.resultsRefused[code] += 1;
      } catch {
        this.counters.resultsRefused.noAnswer += 1;
      }
      await delay(this.options.retryMs ?? 500);
    }
  }
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function argument(name: string, fallback: string): string {
  const index = process.argv.indexOf(`--${name}`);
  return index >= 0 ? (process.argv[index + 1] ?? fallback) : fallback;
}

if (require.main === module) {
  const simulator = new AnalyzerSimulator({
    port: Number(argument('port', '2576')),
    lisHost: argument('lis-host', '127.0.0.1'),
    lisPort: Number(argument('lis-port', '2575')),
    resultDelayMs: Number(argument('delay-ms', '500')),
  });
  void simulator.start().then(() => {
    console.log(`analyzer simulator: orders on MLLP port ${simulator.port}`);
    setInterval(() => console.log(JSON.stringify(simulator.counters)), 10_000).unref();
  });
  process.on('SIGINT', () => void simulator.stop().then(() => process.exit(0)));
  setInterval(() => undefined, 1 << 30);
}
