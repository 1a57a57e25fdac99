// The shapes the console reads from the services' admin APIs (only what it shows; anything else a
// record carries is still searched and rendered generically).

export const STYLES = [
  '2pc',
  '3pc',
  'tcc',
  'saga',
  'quota-saga',
  'outbox',
  'message',
  'best-effort',
] as const;

/** The states the platform's protocols use (2PC, 3PC, TCC, sagas, outbox, messages, notifications). */
export const KNOWN_STATES = [
  'preparing',
  'precommitting',
  'committing',
  'committed',
  'aborting',
  'aborted',
  'trying',
  'confirming',
  'confirmed',
  'cancelling',
  'cancelled',
  'running',
  'compensating',
  'completed',
  'pending',
  'prepared',
  'submitted',
  'delivered',
  'dead-lettered',
] as const;

export interface Branch {
  participant: string;
  state?: string;
  vote?: string;
  reason?: string;
  [field: string]: unknown;
}

export interface TimelineStep {
  at: string;
  event: string;
  [field: string]: unknown;
}

/** A global transaction as `GET /api/<service>/transactions` lists it. */
export interface TransactionRecord {
  gtid: string;
  correlationId?: string;
  /** One of STYLES (a newer service may report another). */
  style: string;
  state: string;
  branches: Branch[];
  timeline: TimelineStep[];
  retries: number;
  lastError?: string;
  traceId?: string;
  createdAt: string;
  updatedAt: string;
  [field: string]: unknown;
}

/** A record with the service that answered it. */
export type FromService<T> = T & { service: string };

export interface DeadLetterQueue {
  queue: string;
  deadLetters: number;
}

export interface DeadLetter {
  messageId: string;
  type: string;
  gtid?: string;
  reason?: string;
  deadLetteredAt?: string;
  deliveries?: number;
  [field: string]: unknown;
}

export interface Bed {
  bedId: string;
  patientId?: string | null;
  spo2Scale?: number | string | null;
  admittedAt?: string | null;
  [field: string]: unknown;
}

/** One drug at one location of the pharmacy's inventory (`/api/inventory`). */
export interface StockLine {
  medicationCode: string;
  locationId: string;
  onHand: number;
  reorderPoint: number;
  reorderQuantity: number;
  openReorder: { reorderId: string; quantity: number; openedAt: string } | null;
  updatedAt: string;
}

/** Just enough of a FHIR Bundle for searching and paging. */
export interface Bundle<R = Record<string, unknown>> {
  resourceType: 'Bundle';
  total?: number;
  link?: { relation: string; url: string }[];
  entry?: { resource?: R }[];
}

export interface AuditEvent {
  id?: string;
  recorded?: string;
  action?: string;
  outcome?: string;
  outcomeDesc?: string;
  agent?: { who?: { identifier?: { value?: string }; display?: string; reference?: string } }[];
  entity?: { what?: { reference?: string; display?: string } }[];
  source?: { observer?: { display?: string; reference?: string } };
  [field: string]: unknown;
}
