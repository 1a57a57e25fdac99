// Which backend owns each FHIR resource type. Built from what each backend's CapabilityStatement says it
// serves, with an explicit preference where several serve a type (the EMR holds the patient record; the
// LIS, the PACS and telemedicine hold copies or their own views of some of its types).

/** The backend that owns a type when it serves it (or when its CapabilityStatement is not known yet). */
export const PREFERRED_OWNERS: Readonly<Record<string, string>> = {
  Patient: 'emr',
  Encounter: 'emr',
  ServiceRequest: 'emr',
  DiagnosticReport: 'emr',
  ImagingStudy: 'emr',
  Observation: 'icu-monitor',
  RiskAssessment: 'icu-monitor',
  Flag: 'icu-monitor',
  Medication: 'pharmacy',
  MedicationRequest: 'pharmacy',
  MedicationDispense: 'pharmacy',
  Schedule: 'appointments',
  Slot: 'appointments',
  Appointment: 'appointments',
  CarePlan: 'care-plans',
  CareTeam: 'care-plans',
  Practitioner: 'telemedicine',
  Organization: 'telemedicine',
  Communication: 'referral-inbox',
  SupplyRequest: 'pharmacy-supply-chain',
  SupplyDelivery: 'pharmacy-supply-chain',
  AuditEvent: 'audit',
};

/** Where a transaction or batch Bundle goes when its entries belong to several backends. */
export const MIXED_BUNDLE_COORDINATOR = 'emr';

/** A resource type's shape in a path: `Patient`, `MedicationRequest` (never an operation or a dot segment). */
export const RESOURCE_TYPE = /^[A-Z][A-Za-z]{1,63}$/;

export class OwnerTable {
  /** Types each backend declared in its last CapabilityStatement; absent while it is not known. */
  private readonly served = new Map<string, ReadonlySet<string>>();

  /** `backends`: the configured backends in preference order. */
  constructor(
    private readonly backends: readonly string[],
    private readonly preferences: Readonly<Record<string, string>> = PREFERRED_OWNERS,
  ) {}

  /** Records the types a backend's CapabilityStatement declares (undefined: not known, e.g. it is down). */
  update(backend: string, types: readonly string[] | undefined): void {
    if (!this.backends.includes(backend)) return;
    if (types === undefined) this.served.delete(backend);
    else this.served.set(backend, new Set(types));
  }

  /** Whether the backend's CapabilityStatement is known. */
  known(backend: string): boolean {
    return this.served.has(backend);
  }

  /**
   * The backend that owns `type`: the preferred one when it is configured and serves the type (or has
   * not been heard from yet: its requests then fail as unavailable rather than as unknown), else the first
   * configured backend that declares it; undefined when none does.
   */
  ownerOf(type: string): string | undefined {
    if (!RESOURCE_TYPE.test(type)) return undefined;
    const preferred = Object.hasOwn(this.preferences, type) ? this.preferences[type] : undefined;
    if (preferred !== undefined && this.backends.includes(preferred)) {
      const declared = this.served.get(preferred);
      if (declared === undefined || declared.has(type)) return preferred;
    }
    return this.backends.find((backend) => this.served.get(backend)?.has(type) === true);
  }

  /** Every type with an owner, sorted, and its owner. */
  routes(): [string, string][] {
    const types = new Set<string>();
    for (const declared of this.served.values()) for (const type of declared) types.add(type);
    for (const [type, owner] of Object.entries(this.preferences))
      if (this.backends.includes(owner) && !this.served.has(owner)) types.add(type);
    return [...types].sort().flatMap((type) => {
      const owner = this.ownerOf(type);
      return owner === undefined ? [] : [[type, owner] as [string, string]];
    });
  }

  /**
   * The backend that coordinates a transaction or batch Bundle with entries of `types`: their one owner,
   * or MIXED_BUNDLE_COORDINATOR when they belong to several (undefined when a type has no owner).
   */
  coordinatorOf(types: readonly string[]): string | undefined {
    const owners = new Set<string>();
    for (const type of types) {
      const owner = this.ownerOf(type);
      if (owner === undefined) return undefined;
      owners.add(owner);
    }
    if (owners.size === 1) return [...owners][0];
    return this.backends.includes(MIXED_BUNDLE_COORDINATOR) ? MIXED_BUNDLE_COORDINATOR : undefined;
  }
}
