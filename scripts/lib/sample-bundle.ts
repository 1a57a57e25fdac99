import { randomUUID } from 'node:crypto';
import type { Bundle } from '@medplum/fhirtypes';

const LAB = { system: 'http://snomed.info/sct', code: '108252007', display: 'Laboratory procedure' };
const IMAGING = { system: 'http://snomed.info/sct', code: '363679005', display: 'Imaging' };

/**
 * The record-update workflow as a clinician's system posts it to the EMR's `/fhir`: a new patient, an
 * encounter, one laboratory order (→ LIS) and one imaging order (→ PACS), linked by `urn:uuid` references.
 * Synthetic data only.
 */
export function recordUpdateBundle(seq: number, mrnPrefix = 'BENCH'): Bundle {
  const patient = `urn:uuid:${randomUUID()}`;
  const encounter = `urn:uuid:${randomUUID()}`;
  const order = (category: typeof LAB, code: { system: string; code: string; display: string }) => ({
    fullUrl: `urn:uuid:${randomUUID()}`,
    resource: {
      resourceType: 'ServiceRequest' as const,
      status: 'active' as const,
      intent: 'order' as const,
      category: [{ coding: [category] }],
      code: { coding: [code] },
      subject: { reference: patient },
      encounter: { reference: encounter },
    },
    request: { method: 'POST' as const, url: 'ServiceRequest' },
  });
  return {
    resourceType: 'Bundle',
    type: 'transaction',
    entry: [
      {
        fullUrl: patient,
        resource: {
          resourceType: 'Patient',
          identifier: [{ system: 'urn:oid:1.2.36.146.595.217.0.1', value: `${mrnPrefix}-${seq}` }],
          name: [{ family: `Synthetic${seq % 997}`, given: ['Test'] }],
          gender: seq % 2 === 0 ? 'female' : 'male',
          birthDate: `19${String(40 + (seq % 60)).padStart(2, '0')}-0${1 + (seq % 9)}-1${seq % 10}`,
        },
        request: { method: 'POST', url: 'Patient' },
      },
      {
        fullUrl: encounter,
        resource: {
          resourceType: 'Encounter',
          status: 'in-progress',
          class: {
            system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode',
            code: 'AMB',
            display: 'ambulatory',
          },
          subject: { reference: patient },
        },
        request: { method: 'POST', url: 'Encounter' },
      },
      order(LAB, {
        system: 'http://loinc.org',
        code: '58410-2',
        display: 'CBC panel - Blood by Automated count',
      }),
      order(IMAGING, { system: 'http://loinc.org', code: '36643-5', display: 'XR Chest 2 Views' }),
    ],
  };
}
