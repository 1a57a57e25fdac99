import { withClient } from '../../../scripts/lib/bench-cluster';
import { getJson } from '../../../scripts/lib/bench-http';
import { type ConsultParts, TelemedicineCluster } from '../../../scripts/lib/telemedicine-cluster';

/**
 * The consult completion end to end over three-phase commit: telemedicine, the EMR and the referring
 * site's inbox as real processes from `dist/` (built by `node scripts/build.mjs`), each on a fresh
 * database, every call between them through a TCP proxy the spec controls. A completion commits all
 * three parts; one the EMR refuses commits none. A partition that cuts the inbox off at the first
 * PreCommit splits the outcome under the textbook time-outs, and under the default peer termination
 * leaves the EMR waiting (and telemedicine's own branch waiting for its coordinator) until it heals, then
 * everyone aborts with it.
 */
jest.setTimeout(180_000);

// Ports 3820–3869 are this spec's: two runs of three services and three proxies each.
const TIMEOUTS = {
  TX_VOTE_TIMEOUT_MS: '1000',
  TX_3PC_UNCERTAIN_TIMEOUT_MS: '1500',
  TX_3PC_PRECOMMIT_TIMEOUT_MS: '1500',
  TX_3PC_SWEEP_MS: '200',
  TX_RECOVERY_INTERVAL_MS: '500',
};

const cluster = (basePort: number, suffix: string, termination: 'peers' | 'textbook') =>
  new TelemedicineCluster({
    basePort,
    suffix,
    proxied: true,
    log: () => undefined,
    env: { ...TIMEOUTS, TX_3PC_TERMINATION: termination },
  });

/** Polls `parts` until `done` holds (or fails after 20 s). */
async function until(
  run: TelemedicineCluster,
  serviceRequestId: string,
  done: (parts: ConsultParts) => boolean,
): Promise<ConsultParts> {
  const deadline = Date.now() + 20_000;
  for (;;) {
    const parts = await run.parts(serviceRequestId);
    if (done(parts)) return parts;
    if (Date.now() > deadline) throw new Error(`consult parts never settled: ${JSON.stringify(parts)}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}
const nothingPrepared = (parts: ConsultParts) => Object.values(parts.prepared).every((n) => n === 0);

async function transaction(run: TelemedicineCluster, gtid: string): Promise<{ state: string } | undefined> {
  const listed = await getJson(`${run.url('telemedicine')}/api/transactions?style=3pc&limit=500`);
  return (JSON.parse(listed.body) as { gtid: string; state: string }[]).find((t) => t.gtid === gtid);
}

describe('consult completion over three-phase commit (peer termination)', () => {
  const run = cluster(3820, 'spec3pc', 'peers');

  beforeAll(async () => {
    await run.start(2);
  }, 180_000);
  afterAll(async () => {
    await run.stop();
  });

  it('commits the chart, the consult record and the recommendation together', async () => {
    const consult = await run.openConsult();
    const done = await run.complete(consult.serviceRequestId);
    expect(done.status).toBe(200);
    const gtid = String(done.headers?.['x-gtid']);
    expect((await run.parts(consult.serviceRequestId)).applied).toEqual({
      emr: true,
      'referral-inbox': true,
      telemedicine: true,
    });
    expect(await transaction(run, gtid)).toMatchObject({ state: 'committed' });
    // What each part holds: the answer names them, and each service serves its own.
    const named = Object.fromEntries(
      (
        JSON.parse(done.body) as { parameter: { name: string; valueReference?: { reference: string } }[] }
      ).parameter.map((p) => [p.name, p.valueReference?.reference ?? '']),
    );
    expect(named.session).toBe(`Encounter/${consult.encounterId}`);
    const read = async (service: 'telemedicine' | 'referral-inbox', reference: string) =>
      JSON.parse((await getJson(`${run.url(service)}/fhir/${reference}`)).body) as Record<string, unknown>;
    expect(await read('telemedicine', `ServiceRequest/${consult.serviceRequestId}`)).toMatchObject({
      status: 'completed',
    });
    expect(await read('telemedicine', named.session)).toMatchObject({ status: 'finished' });
    expect(await read('telemedicine', named.diagnosticReport)).toMatchObject({ status: 'final' });
    expect(await read('referral-inbox', named.communication)).toMatchObject({
      recipient: [{ reference: 'Organization/site-0001' }],
      subject: { reference: `Patient/${consult.patientId}` },
    });
    const inChart = await withClient(run.database('emr'), (client) =>
      client.query('SELECT id FROM fhir_resource WHERE id = ANY($1)', [
        [named.diagnosticReport.split('/')[1], consult.encounterId],
      ]),
    );
    expect(inChart.rows).toHaveLength(2);
    // Completed once: a second completion of the same consult is refused and changes nothing.
    expect((await run.complete(consult.serviceRequestId)).status).toBe(409);
  });

  it('commits nothing anywhere when the EMR refuses its part (a patient it does not hold)', async () => {
    const consult = await run.openConsult('pat-not-in-the-emr');
    const refused = await run.complete(consult.serviceRequestId);
    expect(refused.status).toBe(409);
    const parts = await until(run, consult.serviceRequestId, nothingPrepared);
    expect(parts.applied).toEqual({ emr: false, 'referral-inbox': false, telemedicine: false });
    expect(await transaction(run, String(refused.headers?.['x-gtid']))).toMatchObject({ state: 'aborted' });
    // The consult stays open, to be completed again once the chart holds the patient.
    expect(
      JSON.parse(
        (await getJson(`${run.url('telemedicine')}/fhir/ServiceRequest/${consult.serviceRequestId}`)).body,
      ),
    ).toMatchObject({ status: 'active' });
  });

  it('a partition at PreCommit: the cut-off side aborts, the others wait for it, then all abort', async () => {
    const consult = await run.openConsult(run.patientIds[1]);
    const cut = run.proxies['referral-inbox'].cutOnRequest('"op":"pre-commit"');
    const answer = await run.complete(consult.serviceRequestId);
    await cut;
    // PreCommit never reached the inbox: the coordinator cannot say how it ends.
    expect(answer.status).toBe(503);
    // Past both time-outs: the inbox (uncertain) aborted on its own; the EMR and telemedicine
    // (pre-committed) cannot reach it and keep their branches instead of committing.
    const waiting = await until(
      run,
      consult.serviceRequestId,
      (p) => p.prepared['referral-inbox'] === 0 && p.prepared.emr === 1 && p.prepared.telemedicine === 1,
    );
    await new Promise((resolve) => setTimeout(resolve, 2_000));
    expect((await run.parts(consult.serviceRequestId)).prepared).toEqual(waiting.prepared);
    expect(waiting.applied).toEqual({ emr: false, 'referral-inbox': false, telemedicine: false });
    run.proxies['referral-inbox'].heal();
    const settled = await until(run, consult.serviceRequestId, nothingPrepared);
    expect(settled.applied).toEqual({ emr: false, 'referral-inbox': false, telemedicine: false });
    const gtid = String(answer.headers?.['x-gtid']);
    const deadline = Date.now() + 20_000;
    while ((await transaction(run, gtid))?.state !== 'aborted' && Date.now() < deadline)
      await new Promise((resolve) => setTimeout(resolve, 200));
    expect(await transaction(run, gtid)).toMatchObject({ state: 'aborted' });
  });
});

describe('consult completion under the textbook 3PC time-outs', () => {
  const run = cluster(3840, 'spec3pctb', 'textbook');

  beforeAll(async () => {
    await run.start(1);
  }, 180_000);
  afterAll(async () => {
    await run.stop();
  });

  it('splits the outcome when a partition cuts the inbox off at PreCommit (the hazard)', async () => {
    const consult = await run.openConsult();
    const cut = run.proxies['referral-inbox'].cutOnRequest('"op":"pre-commit"');
    expect((await run.complete(consult.serviceRequestId)).status).toBe(503);
    await cut;
    // The EMR, pre-committed, commits on its time-out; the inbox, uncertain, aborts on its own.
    const split = await until(
      run,
      consult.serviceRequestId,
      (p) => p.prepared.emr === 0 && p.prepared['referral-inbox'] === 0,
    );
    expect(split.applied).toMatchObject({ emr: true, 'referral-inbox': false });
    // Healed, the coordinator learns of the inbox's abort and aborts its own consult record: the findings
    // are in the chart, but the consult stays open and the referring site never hears of it.
    run.proxies['referral-inbox'].heal();
    const parts = await until(run, consult.serviceRequestId, nothingPrepared);
    expect(parts.applied).toEqual({ emr: true, 'referral-inbox': false, telemedicine: false });
  });
});
