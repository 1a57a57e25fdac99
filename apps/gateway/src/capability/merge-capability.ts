import type {
  CapabilityStatement,
  CapabilityStatementRest,
  CapabilityStatementRestResource,
} from '@medplum/fhirtypes';

/** The resource types a backend's CapabilityStatement declares on its server `rest` entry. */
export function declaredTypes(statement: CapabilityStatement): string[] {
  return serverRest(statement)?.resource?.map((resource) => resource.type) ?? [];
}

function serverRest(statement: CapabilityStatement): CapabilityStatementRest | undefined {
  return statement.rest?.find((rest) => rest.mode === 'server');
}

/** Whether a parsed JSON value looks like a CapabilityStatement (what the gateway relies on). */
export function isCapabilityStatement(value: unknown): value is CapabilityStatement {
  if (typeof value !== 'object' || value === null) return false;
  const candidate = value as { resourceType?: unknown; rest?: unknown };
  return (
    candidate.resourceType === 'CapabilityStatement' &&
    (candidate.rest === undefined || Array.isArray(candidate.rest))
  );
}

export interface MergeInput {
  /** Each backend's last CapabilityStatement, by backend name (backends not heard from are absent). */
  statements: ReadonlyMap<string, CapabilityStatement>;
  /** Every routed type and its owner (OwnerTable.routes()). */
  routes: readonly [string, string][];
  /** The backend that takes transaction and batch Bundles of mixed types. */
  coordinator: string;
  /** The gateway's own FHIR base, as the client reached it. */
  baseUrl: string;
  date: string;
}

/**
 * The gateway's CapabilityStatement: for each routed type, the declaration of the backend that owns it (so
 * it says exactly what the request will meet there); system interactions (transaction, batch) as the
 * mixed-Bundle coordinator declares them; the security section of the first backend that declares one.
 */
export function mergeCapabilityStatements(input: MergeInput): CapabilityStatement {
  const resource: CapabilityStatementRestResource[] = [];
  for (const [type, owner] of input.routes) {
    const declared = serverRest(input.statements.get(owner) ?? emptyStatement(input.date))?.resource?.find(
      (entry) => entry.type === type,
    );
    if (declared !== undefined) resource.push(declared);
  }
  const coordinatorRest = serverRest(input.statements.get(input.coordinator) ?? emptyStatement(input.date));
  const security = [...input.statements.values()]
    .map((s) => serverRest(s)?.security)
    .find((s) => s !== undefined);
  const rest: CapabilityStatementRest = {
    mode: 'server',
    documentation:
      'One FHIR R4 base for the hospital: each resource type is served by the service that owns it, ' +
      "and its entry here is that service's own declaration.",
    resource,
    ...(coordinatorRest?.interaction === undefined ? {} : { interaction: coordinatorRest.interaction }),
    ...(security === undefined ? {} : { security }),
  };
  return {
    resourceType: 'CapabilityStatement',
    status: 'active',
    date: input.date,
    publisher: 'Hospital integration platform',
    kind: 'instance',
    software: { name: 'hospital-gateway' },
    implementation: { description: 'FHIR R4 base of the hospital (gateway)', url: input.baseUrl },
    fhirVersion: '4.0.1',
    format: ['application/fhir+json', 'json'],
    rest: [rest],
  };
}

function emptyStatement(date: string): CapabilityStatement {
  return {
    resourceType: 'CapabilityStatement',
    status: 'active',
    date,
    kind: 'instance',
    fhirVersion: '4.0.1',
    format: [],
  };
}
