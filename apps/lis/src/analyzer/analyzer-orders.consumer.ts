import { ConsumerDefinition } from '@hospital/transactions';
import { ANALYZER_ORDERS_QUEUE, LAB_ORDERS_EXCHANGE } from '../orders/lab-order.event';
import { AnalyzerOrderHandler } from './analyzer-order.handler';

/**
 * The LIS's queue of orders for the analyzer: fed by its own outbox, applied by sending OML^O21. An
 * analyzer that does not answer (or answers AE) keeps the order queued, however long it takes.
 */
export const analyzerOrdersConsumer: ConsumerDefinition = {
  queue: ANALYZER_ORDERS_QUEUE,
  bindings: [{ exchange: LAB_ORDERS_EXCHANGE, routingKey: 'analyzer' }],
  handler: AnalyzerOrderHandler,
  transientFailures: 'retry-forever',
};
