import type { AuditEvent, AuditEventEntity, Coding } from '@medplum/fhirtypes';
import type { AuditRow } from '../trail/audit-event.repository';

const DCM = 'http://dicom.nema.org/resources/ontology/DCM';
const ACTION_REST_TYPE: Coding = {
  system: 'http://terminology.hl7.org/CodeSystem/audit-event-type',
  code: 'rest',
  display: 'RESTful Operation',
};
const PATIENT_RECORD_TYPE: Coding = { system: DCM, code: '110110', display: 'Patient Record' };
const FHIR_INTERACTIONS = new Set([
  'read',
  'vread',
  'update',
  'patch',
  'delete',
  'history-instance',
  'history-type',
  'create',
  'search-type',
  'search-system',
  'transaction',
  'batch',
  'capabilities',
  'operation',
]);
/** Break-the-glass: DICOM "Security Alert" and "Emergency Override Started", reason "Emergency Treatment". */
const BREAK_THE_GLASS: Coding[] = [
  { system: DCM, code: '110113', display: 'Security Alert' },
  { system: DCM, code: '110127', display: 'Emergency Override Started' },
];
const EMERGENCY_TREATMENT = {
  coding: [
    {
      system: 'http://terminology.hl7.org/CodeSystem/v3-ActReason',
      code: 'ETREAT',
      display: 'Emergency Treatment',
    },
  ],
};

/** Extension URL of the row's place in the hash chain. */
export const CHAIN_SEQ_EXTENSION = 'urn:hospital:fhir:StructureDefinition/audit-chain-seq';

/**
 * A stored audit row as a FHIR R4 `AuditEvent`, after the AuditEvent page and IHE BALP: type `rest` (DICOM
 * 110110 Patient Record for a route outside the FHIR API), subtype the interaction, one agent (who, role,
 * network address; ETREAT when the glass was broken), the service as source, and entities for the patient
 * (role Patient), the resource and the global transaction.
 */
export function toAuditEvent(row: AuditRow): AuditEvent & { id: string } {
  const fhirInteraction = FHIR_INTERACTIONS.has(row.interaction) || row.interaction.startsWith('$');
  const broken = row.breakTheGlass !== null;
  const entity: AuditEventEntity[] = [];
  if (row.patient !== null)
    entity.push({
      what: { reference: `Patient/${row.patient}` },
      type: {
        system: 'http://terminology.hl7.org/CodeSystem/audit-entity-type',
        code: '1',
        display: 'Person',
      },
      role: { system: 'http://terminology.hl7.org/CodeSystem/object-role', code: '1', display: 'Patient' },
    });
  if (row.resourceType !== null && !(row.resourceType === 'Patient' && row.resourceId === row.patient))
    entity.push({
      what:
        row.resourceId === null
          ? { display: row.resourceType }
          : { reference: `${row.resourceType}/${row.resourceId}` },
      type: { system: 'http://hl7.org/fhir/resource-types', code: row.resourceType },
      role: {
        system: 'http://terminology.hl7.org/CodeSystem/object-role',
        code: '4',
        display: 'Domain Resource',
      },
    });
  if (row.gtid !== null)
    entity.push({
      what: { identifier: { system: 'urn:hospital:gtid', value: row.gtid } },
      type: {
        system: 'http://terminology.hl7.org/CodeSystem/audit-entity-type',
        code: '2',
        display: 'System Object',
      },
      description: 'global transaction',
    });
  return {
    resourceType: 'AuditEvent',
    id: row.id,
    meta: { lastUpdated: row.storedAt },
    extension: [{ url: CHAIN_SEQ_EXTENSION, valueInteger: row.seq }],
    type: fhirInteraction ? ACTION_REST_TYPE : PATIENT_RECORD_TYPE,
    subtype: [
      fhirInteraction && !row.interaction.startsWith('$')
        ? { system: 'http://hl7.org/fhir/restful-interaction', code: row.interaction }
        : { system: 'urn:hospital:interaction', code: row.interaction },
      ...(broken ? BREAK_THE_GLASS : []),
    ],
    action: row.action as AuditEvent['action'],
    recorded: row.recorded,
    outcome: row.outcome as AuditEvent['outcome'],
    outcomeDesc: `HTTP ${row.status}${row.reason === null ? '' : `: ${row.reason}`}`,
    ...(broken ? { purposeOfEvent: [EMERGENCY_TREATMENT] } : {}),
    agent: [
      {
        requestor: true,
        who:
          row.actorId === null
            ? { display: 'unauthenticated' }
            : {
                identifier: { system: `urn:hospital:${row.actorKind ?? 'user'}`, value: row.actorId },
                ...(row.actorName === null ? {} : { display: row.actorName }),
              },
        ...(row.actorRole === null
          ? {}
          : {
              role: [{ coding: [{ system: 'urn:hospital:role', code: row.actorRole }], text: row.actorRole }],
            }),
        ...(row.sourceAddress === null
          ? {}
          : { network: { address: row.sourceAddress, type: '2' as const } }),
        ...(broken ? { purposeOfUse: [EMERGENCY_TREATMENT] } : {}),
      },
    ],
    source: {
      site: 'hospital',
      observer: { display: row.service },
      type: [
        {
          system: 'http://terminology.hl7.org/CodeSystem/security-source-type',
          code: '4',
          display: 'Application Server',
        },
      ],
    },
    ...(entity.length === 0 ? {} : { entity }),
  };
}
