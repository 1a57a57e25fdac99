// The consult directory: the experts who take remote consults and the referring sites that send them.
// Idempotent: every resource is an upsert under a fixed id, written only when it differs.
import type { Organization, Practitioner } from '@medplum/fhirtypes';
import { FhirResourceStore, SearchParameterRegistry } from '@hospital/fhir';
import { Database, type SqlExecutor } from '@hospital/platform';
import { TELEMEDICINE_RESOURCES } from '../../fhir-resources';

const NPI = 'http://hl7.org/fhir/sid/us-npi';

/** The experts (synthetic people), by fixed id. */
export const CONSULT_EXPERTS: readonly (Practitioner & { id: string })[] = [
  {
    resourceType: 'Practitioner',
    id: 'expert-0001',
    identifier: [{ system: NPI, value: '1356789012' }],
    name: [{ family: 'Achebe', given: ['Nkem'], prefix: ['Dr.'] }],
    qualification: [{ code: { text: 'Cardiology' } }],
  },
  {
    resourceType: 'Practitioner',
    id: 'expert-0002',
    identifier: [{ system: NPI, value: '1467890123' }],
    name: [{ family: 'Varga', given: ['Istvan'], prefix: ['Dr.'] }],
    qualification: [{ code: { text: 'Dermatology' } }],
  },
];

/** The referring sites, by fixed id. */
export const REFERRING_SITES: readonly (Organization & { id: string })[] = [
  {
    resourceType: 'Organization',
    id: 'site-0001',
    identifier: [{ system: 'urn:oid:2.16.840.1.113883.3.4', value: 'RS-0001' }],
    active: true,
    name: 'Northfield Community Clinic',
  },
  {
    resourceType: 'Organization',
    id: 'site-0002',
    identifier: [{ system: 'urn:oid:2.16.840.1.113883.3.4', value: 'RS-0002' }],
    active: true,
    name: 'Lakeside Rural Health Centre',
  },
];

/**
 * Writes the consult directory into telemedicine's database: each expert and referring site upserted under
 * its fixed id. On a Database it runs in one local transaction. Returns how many it wrote.
 */
export async function seedConsultDirectory(
  db: Database | SqlExecutor,
): Promise<{ resources: number; written: number }> {
  const store = new FhirResourceStore(new SearchParameterRegistry(TELEMEDICINE_RESOURCES));
  const resources = [...CONSULT_EXPERTS, ...REFERRING_SITES];
  const write = async (exec: SqlExecutor) => {
    let written = 0;
    for (const resource of resources) if ((await store.upsertCopy(exec, resource)).changed) written += 1;
    return written;
  };
  const written = db instanceof Database ? await db.transaction(write) : await write(db);
  return { resources: resources.length, written };
}
