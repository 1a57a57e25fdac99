// The spec sets and files the mutation catalogue names, once: a new spec that covers an adapter is added
// here, in one place (see mutation-catalogue.ts).
/** The 2PC adapters against the real PostgreSQL: alone, racing each other, and at each guard. */
export const PG_2PC = [
  'libs/transactions/test/postgres-two-phase-commit.int-spec.ts',
  'libs/transactions/test/postgres-two-phase-commit.concurrency.int-spec.ts',
  'libs/transactions/test/postgres-two-phase-commit.edges.int-spec.ts',
];
/** Outbox, inbox and the RabbitMQ adapters against the real PostgreSQL and RabbitMQ: alone, racing, at each guard. */
export const OUTBOX = [
  'libs/transactions/test/outbox.int-spec.ts',
  'libs/transactions/test/outbox.concurrency.int-spec.ts',
  'libs/transactions/test/inbox.edges.int-spec.ts',
];
/** Messages the broker routes to no queue: held, listed and published again over HTTP. */
export const HELD = [...OUTBOX, 'libs/transactions/test/outbox.http.int-spec.ts'];
/**
 * In-doubt branches as operators see them (gauges, listing, resolution over HTTP). The other new specs
 * (`retention`, `internal-auth`) cover files with no entry here: the retention sweeps and the HTTP guards.
 */
export const IN_DOUBT = [...PG_2PC, 'libs/transactions/test/operations.int-spec.ts'];
/** Two-phase messages over HTTP, PostgreSQL and RabbitMQ, and the server's store at each guard. */
export const MESSAGES = [
  'libs/transactions/test/message-transaction.int-spec.ts',
  'libs/transactions/test/message-transaction.edges.int-spec.ts',
];
/**
 * The RabbitMQ adapters against the real broker, and at their edges: what a published message carries, a
 * dead-letter copy or a replay the broker refuses, a message failing on every delivery.
 */
export const RABBITMQ = [...OUTBOX, 'libs/transactions/test/rabbitmq.edges.int-spec.ts'];
/** The publisher serves both the outbox relay and the message server. */
export const PUBLISHER = [...RABBITMQ, ...MESSAGES];
/** The protocol cores' unit and property specs. */
export const TWO_PC_CORE = [
  'libs/transactions/src/two-phase-commit/coordinator.spec.ts',
  'libs/transactions/src/two-phase-commit/participant.spec.ts',
  'libs/transactions/src/two-phase-commit/two-phase-commit.property.spec.ts',
];
export const OUTBOX_CORE = [
  'libs/transactions/src/outbox/outbox.property.spec.ts',
  'libs/transactions/src/outbox/inbox-consumer.spec.ts',
];
export const MESSAGE_CORE = [
  'libs/transactions/src/message-transaction/message-transaction.spec.ts',
  'libs/transactions/src/message-transaction/message-transaction.property.spec.ts',
];

export const PREPARED = 'adapters/postgres/postgres-prepared-resource.ts';
export const LOG = 'adapters/postgres/postgres-coordinator-log.ts';
export const INBOX = 'adapters/postgres/postgres-inbox.ts';
export const OUTBOX_STORE = 'adapters/postgres/postgres-outbox.ts';
export const MESSAGE_STORE = 'adapters/postgres/postgres-message-transaction.ts';
export const RABBIT_PUBLISHER = 'adapters/rabbitmq/rabbitmq-publisher.ts';
export const RABBIT_CONSUMER = 'adapters/rabbitmq/rabbitmq-consumer.ts';
export const RABBIT_DEAD_LETTERS = 'adapters/rabbitmq/rabbitmq-dead-letters.ts';
