import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { connect } from 'node:net';
import { Hl7Message } from '@medplum/core';
import { ORDER_RESULT_TYPE } from '@hospital/fhir';
import { AUDIT_RECORD_TYPE } from '@hospital/platform';
import { buildOruR01, sendHl7 } from '../../../scripts/lib/analyzer-simulator';
import { LisHarness } from './support/lis-harness';

/**
 * The LIS's MLLP listener for ORU^R01 over loopback: each malformed message gets the ACK code, table 0357
 * code and location HL7 v2.5.1 asks for and changes no row of the FHIR store, the inbox or the outbox; a
 * result sent twice, one after the other or at once on two connections, is applied once.
 */
jest.setTimeout(60_000);

describe('LIS MLLP result listener', () => {
  let lis: LisHarness;
  let orderId: string;
  let patientId: string;

  beforeAll(async () => {
    lis = await LisHarness.start({ http: 4601, listener: 4633, analyzer: 4632 });
    // An order the LIS holds, whose own result from the analyzer has come and gone before the cases run.
    const placed = await lis.recordUpdate({ panel: '51990-0' });
    patientId = placed.patientId;
    orderId = placed.orderIds[0] ?? '';
    for (;;) {
      await lis.analyzer.settled();
      if (lis.analyzer.counters.resultsAcknowledged > 0) break;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }, 60_000);

  afterAll(async () => {
    await lis?.stop();
  });

  const send = (message: Hl7Message | string) => sendHl7('127.0.0.1', lis.ports.listener, message);
  /** A result for the held order under a fresh MSH-10. */
  const result = (status: 'F' | 'P' | 'C' = 'C') =>
    buildOruR01(
      { placerOrderNumber: orderId, panel: '51990-0' },
      { status, controlId: `T${randomUUID().slice(0, 18)}` },
    );
  const edit = (message: Hl7Message, name: string, field: number, value: string) =>
    message
      .toString()
      .split('\r')
      .map((segment) => {
        if (!segment.startsWith(`${name}|`)) return segment;
        const fields = segment.split('|');
        fields[name === 'MSH' ? field - 1 : field] = value;
        return fields.join('|');
      })
      .join('\r');
  const ackOf = (ack: Hl7Message) => ({
    msa1: ack.getSegment('MSA')?.getField(1)?.toString(),
    msa2: ack.getSegment('MSA')?.getField(2)?.toString(),
    err2: ack.getSegment('ERR')?.getField(2)?.toString(),
    err3: ack.getSegment('ERR')?.getField(3)?.getComponent(1),
    err4: ack.getSegment('ERR')?.getField(4)?.toString(),
  });

  it.each([
    ['a version other than 2.5.1', (m: Hl7Message) => edit(m, 'MSH', 12, '2.3'), 'AR', '203', 'MSH^1^12'],
    [
      'a message type other than ORU^R01',
      (m: Hl7Message) => edit(m, 'MSH', 9, 'ORM^O01^ORM_O01'),
      'AR',
      '200',
      'MSH^1^9',
    ],
    [
      'a segment ORU^R01 does not have',
      (m: Hl7Message) => `${m.toString()}\rXYZ|1|junk`,
      'AE',
      '100',
      'XYZ^1',
    ],
    [
      'no OBX',
      (m: Hl7Message) =>
        m
          .toString()
          .split('\r')
          .filter((s) => !s.startsWith('OBX'))
          .join('\r'),
      'AE',
      '100',
      'OBX^1',
    ],
    [
      'an NM value that is not a number',
      (m: Hl7Message) => m.toString().replace('|140|', '|one-forty|'),
      'AE',
      '102',
      'OBX^1^5',
    ],
    [
      'an order number the LIS does not hold',
      (m: Hl7Message) => edit(m, 'OBR', 2, 'no-such-order^HOSPITAL_LIS'),
      'AE',
      '204',
      'OBR^1^2',
    ],
  ])('answers %s with the right ACK and changes nothing', async (_, malform, code, error, location) => {
    const message = result();
    const before = await lis.counts();
    const ack = await send(malform(message));
    expect(ackOf(ack)).toEqual({
      msa1: code,
      msa2: message.getSegment('MSH')?.getField(10)?.toString(),
      err2: location,
      err3: error,
      err4: 'E',
    });
    expect(await lis.counts()).toEqual(before);
  });

  it('answers a frame that is not an HL7 message (no MSH) with AE 100 and changes nothing', async () => {
    const before = await lis.counts();
    const socket = connect(lis.ports.listener, '127.0.0.1');
    await once(socket, 'connect');
    socket.write(Buffer.concat([Buffer.from([0x0b]), Buffer.from('PID|1||x'), Buffer.from([0x1c, 0x0d])]));
    const [reply] = (await once(socket, 'data')) as [Buffer];
    socket.destroy();
    const ack = Hl7Message.parse(reply.subarray(1, reply.length - 2).toString('utf8'));
    expect(ackOf(ack)).toEqual({ msa1: 'AE', msa2: '', err2: 'MSH^1', err3: '100', err4: 'E' });
    expect(await lis.counts()).toEqual(before);
  });

  it('records who sent a result (the analyzer) and whose it is in an audit record of the same transaction', async () => {
    const message = result('C');
    expect(ackOf(await send(message)).msa1).toBe('AA');
    const records = await lis.db.query<{ payload: Record<string, unknown> }>(
      `SELECT payload FROM tx_outbox WHERE type = $1 AND payload->>'interaction' = 'hl7-oru-r01' AND payload->>'patient' = $2`,
      [AUDIT_RECORD_TYPE, patientId],
    );
    expect(records.length).toBeGreaterThan(0);
    expect(records[0]?.payload).toMatchObject({
      service: 'lis',
      action: 'C',
      actor: { kind: 'service', id: 'ANALYZER' },
    });
  });

  it('applies a result sent twice in a row once: the second ACK says duplicate and writes nothing', async () => {
    const message = result('C');
    const first = await send(message);
    expect(ackOf(first)).toMatchObject({ msa1: 'AA', err3: undefined });
    const after = await lis.counts();
    const second = await send(message);
    expect(ackOf(second).msa1).toBe('AA');
    expect(second.getSegment('MSA')?.getField(3)?.toString()).toMatch(/^duplicate/);
    expect(await lis.counts()).toEqual(after);
    const report = await lis.fhir(`DiagnosticReport?based-on=ServiceRequest/${orderId}`);
    // The corrected result overwrote the analyzer's final one: still one report, now corrected.
    expect((report.body.entry as { resource: { status: string } }[]).map((e) => e.resource.status)).toEqual([
      'corrected',
    ]);
  });

  it('applies a result delivered on two connections at once exactly once', async () => {
    const message = result('C');
    const controlId = message.getSegment('MSH')?.getField(10)?.toString() ?? '';
    const events = () =>
      lis.db.query(`SELECT id FROM tx_outbox WHERE type = $1 AND payload->>'serviceRequestId' = $2`, [
        ORDER_RESULT_TYPE,
        orderId,
      ]);
    const eventsBefore = (await events()).length;
    const acks = await Promise.all([send(message), send(message), send(message)]);
    expect(acks.map((ack) => ackOf(ack).msa1)).toEqual(['AA', 'AA', 'AA']);
    const texts = acks.map((ack) => ack.getSegment('MSA')?.getField(3)?.toString() ?? '');
    expect(texts.filter((t) => t === 'applied')).toHaveLength(1);
    expect(texts.filter((t) => t.startsWith('duplicate'))).toHaveLength(2);
    expect(await events()).toHaveLength(eventsBefore + 1);
    const inbox = await lis.db.query(
      `SELECT 1 FROM tx_inbox WHERE consumer = 'hl7-results' AND message_id = $1`,
      [`ANALYZER|LAB|${controlId}`],
    );
    expect(inbox).toHaveLength(1);
  });

  it('boots and stops a second LIS whose MLLP port is taken, serving HTTP meanwhile', async () => {
    const second = await LisHarness.start({ http: 4602, listener: lis.ports.listener, analyzer: 4634 });
    try {
      expect((await second.fhir('metadata')).status).toBe(200);
      // The port still answers as the first LIS: its ACK names a result applied there, or a duplicate.
      expect(ackOf(await send(result('C'))).msa1).toBe('AA');
    } finally {
      await second.stop();
    }
  });
});
