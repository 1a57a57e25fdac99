// The demo's consult: a consult request and virtual session about a seeded patient, completed once at
// start-up by three-phase commit, and the banner lines that show where its three parts landed.
import { completeConsult, openConsult } from './telemedicine-cluster';

/** Runs one consult end to end; the banner lines (what happened, and how to look). */
export async function demoConsult(
  urls: { telemedicine: string; emr: string; referralInbox: string },
  patientId = 'pat-0001',
): Promise<string[]> {
  const consult = await openConsult(urls.telemedicine, patientId);
  const done = await completeConsult(urls.telemedicine, consult.serviceRequestId);
  const gtid = String(done.headers?.['x-gtid'] ?? '');
  const outcome =
    done.status === 200
      ? `completed (gtid ${gtid}): findings in the chart, consult closed, recommendation at the referring site`
      : `not completed: HTTP ${done.status ?? done.error}`;
  return [
    `Telemedicine: a consult about ${patientId} by expert-0001 for site-0001 was ${outcome}. The same, by hand (three-phase commit):`,
    `  curl -s -X POST ${urls.telemedicine}/fhir/ServiceRequest/<id>/\\$complete -H 'content-type: application/fhir+json' --data '{"resourceType":"Parameters","parameter":[{"name":"conclusion","valueString":"…"},{"name":"recommendation","valueString":"…"}]}'`,
    `  curl -s '${urls.emr}/fhir/DiagnosticReport?based-on=ServiceRequest/${consult.serviceRequestId}'`,
    `  curl -s '${urls.referralInbox}/fhir/Communication?based-on=ServiceRequest/${consult.serviceRequestId}'`,
    `  curl -s '${urls.telemedicine}/api/transactions?style=3pc&limit=5'`,
  ];
}
