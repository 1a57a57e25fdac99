import type { CapabilityStatement, CapabilityStatementRestResource } from '@medplum/fhirtypes';
import { normalizeBaseUrl } from '../bundle/bundle-links';
import {
  CONTROL_PARAMETER_DOCS,
  DEFAULT_PAGE_SIZE,
  MAX_PAGE_SIZE,
  type SearchParameterRegistry,
} from '../search/search-parameter-registry';

/** Type-level interactions (codes of http://hl7.org/fhir/type-restful-interaction). */
export type FhirTypeInteraction =
  'read' | 'vread' | 'history-instance' | 'search-type' | 'create' | 'update' | 'delete';
export type FhirWriteInteraction = 'create' | 'update' | 'delete';

/** What the FHIR module serves for every registered type, from the store. */
export const READ_INTERACTIONS: readonly FhirTypeInteraction[] = [
  'read',
  'vread',
  'history-instance',
  'search-type',
];

export interface FhirInteractions {
  /** Interactions per resource type; a registered type that is not listed gets READ_INTERACTIONS. */
  types?: Readonly<Record<string, readonly FhirTypeInteraction[]>>;
  /** Whether `POST [base]` accepts transaction Bundles. */
  transaction?: boolean;
  /** Whether `POST [base]` accepts batch Bundles. */
  batch?: boolean;
}

export interface CapabilityStatementInput {
  serviceName: string;
  baseUrl: string;
  registry: SearchParameterRegistry;
  interactions: FhirInteractions;
  /** Publication date; now by default. */
  date?: string;
}

/** The interactions offered for a type, in the order FHIR lists them. */
export function interactionsOf(interactions: FhirInteractions, resourceType: string): FhirTypeInteraction[] {
  const offered = interactions.types?.[resourceType] ?? READ_INTERACTIONS;
  const order: FhirTypeInteraction[] = [
    'read',
    'vread',
    'update',
    'delete',
    'history-instance',
    'create',
    'search-type',
  ];
  return order.filter((code) => offered.includes(code));
}

/**
 * The service's CapabilityStatement, generated from the same SearchParameterRegistry the search
 * parser uses: every advertised search parameter is accepted and every accepted one is advertised.
 */
export function buildCapabilityStatement(input: CapabilityStatementInput): CapabilityStatement {
  const { serviceName, registry, interactions } = input;
  const baseUrl = normalizeBaseUrl(input.baseUrl);
  const resources = registry.resourceTypes().map((type): CapabilityStatementRestResource => {
    const codes = interactionsOf(interactions, type);
    return {
      type: type as CapabilityStatementRestResource['type'],
      profile: `http://hl7.org/fhir/StructureDefinition/${type}`,
      interaction: codes.map((code) => ({ code })),
      versioning: 'versioned-update',
      readHistory: codes.includes('vread'),
      updateCreate: codes.includes('update'),
      conditionalCreate: codes.includes('create'),
      conditionalRead: 'not-supported',
      conditionalUpdate: false,
      conditionalDelete: 'not-supported',
      referencePolicy: ['literal', 'local'],
      ...(codes.includes('search-type') ? includesOf(registry, type) : {}),
      searchParam: codes.includes('search-type')
        ? [
            ...registry.params(type).map((param) => ({
              name: param.code,
              definition: param.definition,
              type: param.type,
              ...(param.description === undefined ? {} : { documentation: param.description }),
            })),
            ...Object.entries(CONTROL_PARAMETER_DOCS).map(([name, documentation]) => ({
              name,
              type: 'special' as const,
              documentation,
            })),
          ]
        : [],
    };
  });
  return {
    resourceType: 'CapabilityStatement',
    status: 'active',
    date: input.date ?? new Date().toISOString(),
    publisher: 'Hospital integration platform',
    kind: 'instance',
    software: { name: `hospital-${serviceName}` },
    implementation: { description: `FHIR R4 endpoint of the ${serviceName} service`, url: baseUrl },
    fhirVersion: '4.0.1',
    format: ['application/fhir+json', 'json'],
    rest: [
      {
        mode: 'server',
        documentation:
          `Search pages with _count (default ${DEFAULT_PAGE_SIZE}, at most ${MAX_PAGE_SIZE}) and _offset; ` +
          '_sort, _total, _summary, _elements, _include and _revinclude (searchInclude, searchRevInclude) ' +
          'are supported, and POST [type]/_search with a form body. Unknown search parameters are ignored ' +
          "and reported in the Bundle's outcome entry, or refused with 400 under Prefer: handling=strict. " +
          'Creates honour If-None-Exist; creates and updates honour Prefer: return=minimal | ' +
          'representation | OperationOutcome. Deletes keep history; a later read answers 410 Gone.',
        resource: resources,
        ...systemInteractions(interactions),
      },
    ],
  };
}

/** `rest.interaction`: transaction and batch where `POST [base]` accepts them (absent when neither). */
function systemInteractions(interactions: FhirInteractions): {
  interaction?: { code: 'transaction' | 'batch' }[];
} {
  const codes = (['transaction', 'batch'] as const).filter((code) => interactions[code] === true);
  return codes.length === 0 ? {} : { interaction: codes.map((code) => ({ code })) };
}

/** `searchInclude` and `searchRevInclude` of a type, each left out when empty (R4 forbids empty arrays). */
function includesOf(
  registry: SearchParameterRegistry,
  type: string,
): Pick<CapabilityStatementRestResource, 'searchInclude' | 'searchRevInclude'> {
  const include = registry.includeValues(type);
  const revInclude = registry.revIncludeValues(type);
  return {
    ...(include.length === 0 ? {} : { searchInclude: include }),
    ...(revInclude.length === 0 ? {} : { searchRevInclude: revInclude }),
  };
}
