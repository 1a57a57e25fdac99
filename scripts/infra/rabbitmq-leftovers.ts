// Queues that spec runs leave in the local broker: each run declares its queues under a namespace of its
// own (`<name>-<8 hex>.` or `<letters><8 hex>.`), and a run that ends leaves them behind, durable and empty.
// Hundreds of them slow the broker's start and recovery; `npm test` deletes the idle ones before it runs.
import { connect } from 'amqplib';
import type { Endpoints } from './endpoints';
import { isLocalHost } from './endpoints';
import type { Log } from './control';
import { runCommand } from './exec';

/** A queue a finished spec run left: its namespace ends in a run's random hex, and nobody consumes it. */
export function isLeftoverQueue(name: string, consumers: number): boolean {
  const namespace = name.split('.')[0] ?? '';
  return consumers === 0 && name.includes('.') && /^[a-z][a-z0-9-]*[0-9a-f]{8}$/.test(namespace);
}

/** `rabbitmqctl list_queues name consumers` as name and consumer count, one per queue. */
export function parseQueueList(output: string): { name: string; consumers: number }[] {
  return output
    .split('\n')
    .map((line) => line.trim().split(/\s+/))
    .filter((fields) => fields.length === 2 && /^\d+$/.test(fields[1] ?? ''))
    .map(([name, consumers]) => ({ name: name ?? '', consumers: Number(consumers) }));
}

/**
 * Deletes the local broker's leftover spec queues (`isLeftoverQueue`); returns how many. Does nothing for
 * a broker on another host or without `rabbitmqctl`: those belong to someone else.
 */
export async function deleteLeftoverQueues(endpoints: Endpoints, log: Log): Promise<number> {
  if (!isLocalHost(endpoints.rabbitmq.host)) return 0;
  const listed = await runCommand(
    ['rabbitmqctl', 'list_queues', 'name', 'consumers', '--quiet', '--no-table-headers'],
    60_000,
  ).catch(() => undefined);
  if (listed === undefined || listed.code !== 0) return 0;
  const leftovers = parseQueueList(listed.output).filter((q) => isLeftoverQueue(q.name, q.consumers));
  if (leftovers.length === 0) return 0;
  const connection = await connect(endpoints.rabbitmq.url);
  try {
    const channel = await connection.createChannel();
    // A queue a run deletes itself meanwhile is fine: deleting a missing queue succeeds.
    for (const { name } of leftovers) await channel.deleteQueue(name);
    await channel.close();
  } finally {
    await connection.close();
  }
  log(`deleted ${leftovers.length} queue(s) earlier spec runs left in RabbitMQ`);
  return leftovers.length;
}
