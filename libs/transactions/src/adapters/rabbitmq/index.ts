export * from './rabbitmq-connection';
export * from './rabbitmq-publisher';
export * from './rabbitmq-consumer';
export * from './rabbitmq-dead-letters';
