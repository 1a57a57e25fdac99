import type { Principal } from '../auth/principal';

/**
 * One access to patient data, allowed or refused, as every service reports it to the audit service
 * (DESIGN §5; the fields map onto a FHIR `AuditEvent` and IHE BALP's patterns). Never logged: it names a
 * patient.
 */
export interface AuditRecord {
  /** A uuid minted by the service that saw the access: the audit service stores each id once. */
  id: string;
  /** When the access happened (ISO 8601). */
  recorded: string;
  /** The service that served (or refused) the request. */
  service: string;
  /** Who: absent when no token proved anyone. */
  actor?: Pick<Principal, 'kind' | 'id' | 'name' | 'role'>;
  /** FHIR AuditEvent.action: Create, Read, Update, Delete, Execute. */
  action: 'C' | 'R' | 'U' | 'D' | 'E';
  /** The FHIR interaction or operation (`read`, `search-type`, `create`, `$complete`…) or the route. */
  interaction: string;
  resourceType?: string;
  resourceId?: string;
  /** The patient whose data it was (a `Patient` id), one record per patient a search touched. */
  patient?: string;
  gtid?: string;
  /** `0` success, `4` minor failure (refused or bad request), `8` serious failure: AuditEvent.outcome. */
  outcome: '0' | '4' | '8';
  /** The HTTP status answered. */
  status: number;
  /** Why it was refused, when it was. */
  reason?: string;
  /** The caller's network address. */
  sourceAddress?: string;
  /** Break-the-glass: the reason the user gave. */
  breakTheGlass?: string;
}

/**
 * Where a service's audit records go. The platform's guard records refusals through it; the audit
 * module (outbox-backed, so none is lost while the audit service is down) records the rest. Optional:
 * a service without it audits nothing, which the route check in `npm test` refuses.
 */
export interface AuditSink {
  record(records: readonly AuditRecord[]): Promise<void>;
}

export const AUDIT_SINK = Symbol('AUDIT_SINK');
