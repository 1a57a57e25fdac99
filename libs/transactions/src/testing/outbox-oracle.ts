// The oracle of the outbox / inbox property spec (outbox/outbox.property.spec.ts): what must hold of an
// `OutboxWorld` after every step, and once it has healed and drained.
import { CONSUMER } from './outbox-scenario';
import type { OutboxWorld } from './outbox-world';

/** Safety, at any moment. */
export function checkSafety(world: OutboxWorld, strictOrder: boolean): string[] {
  const problems = [...world.violations];
  const committed = world.committedEvents();
  const applied = new Set<string>();
  for (const effect of world.effects.committed) {
    if (applied.has(effect.messageId)) problems.push(`${effect.messageId} applied twice`);
    applied.add(effect.messageId);
    if (!committed.has(effect.messageId))
      problems.push(`${effect.messageId} applied but its producer transaction did not commit`);
    if (world.plans.get(effect.messageId)?.poison) problems.push(`poison ${effect.messageId} applied`);
  }
  // Decisions (applied or dead-lettered) per (source, aggregate), in commit order: a message is applied
  // only after every earlier one of its aggregate was decided. With patience to spare nothing healthy is
  // dead-lettered, so every decision comes in sequence order; otherwise a message that waited too long for
  // its predecessor may be dead-lettered ahead of it (never applied ahead of it).
  const decided = new Map<string, Set<number>>();
  for (const entry of world.inbox.log) {
    const event = committed.get(entry.messageId);
    if (!event) {
      problems.push(`${entry.messageId} in the inbox but its producer transaction did not commit`);
      continue;
    }
    const key = `${event.source}|${event.aggregateId}`;
    const done = decided.get(key) ?? new Set<number>();
    decided.set(key, done);
    if (entry.outcome === 'applied' || strictOrder) {
      const missing = [...Array(event.sequence - 1).keys()].map((i) => i + 1).find((s) => !done.has(s));
      if (missing !== undefined)
        problems.push(
          `${key}: ${entry.messageId} (sequence ${event.sequence}) ${entry.replacing ? 're-' : ''}decided ` +
            `${entry.outcome} before sequence ${missing} was decided`,
        );
    }
    done.add(event.sequence);
  }
  // The outbox counts a message delivered only once the broker routed it to the queue, and per aggregate
  // only behind every earlier message (a mark lost to a database crash takes the later ones with it).
  for (const store of world.stores) {
    const firstPending = new Map<string, number>();
    for (const row of store.rows.values())
      if (!row.published)
        firstPending.set(
          row.message.aggregateId,
          Math.min(firstPending.get(row.message.aggregateId) ?? Infinity, row.message.sequence),
        );
    for (const [id, row] of store.rows) {
      if (!row.published) continue;
      if ((world.broker.publishedCount.get(id) ?? 0) === 0)
        problems.push(`${id} marked published but never reached the queue`);
      const before = firstPending.get(row.message.aggregateId) ?? Infinity;
      if (row.message.sequence > before)
        problems.push(
          `${id} (sequence ${row.message.sequence}) marked published while sequence ${before} of ` +
            `${row.message.aggregateId} is pending`,
        );
    }
  }
  return problems;
}

/** After healing: everything delivered. */
export function checkComplete(world: OutboxWorld, strict: boolean): string[] {
  const problems: string[] = [];
  const committed = world.committedEvents();
  const effectCount = new Map<string, number>();
  for (const effect of world.effects.committed)
    effectCount.set(effect.messageId, (effectCount.get(effect.messageId) ?? 0) + 1);
  const deadLettered = new Set(world.broker.deadLetters.map((d) => d.message.id));
  for (const tx of world.txs) {
    const ids = tx.events.map((e) => e.id ?? '');
    const inStore = ids.filter((id) => committed.has(id));
    if (tx.state === 'committed' && inStore.length !== ids.length)
      problems.push(`t${tx.index} reported committed but its events are not all in the outbox`);
    if (tx.state !== 'committed' && inStore.length > 0)
      problems.push(`t${tx.index} not committed but its events are in the outbox`);
    if (tx.state !== 'committed')
      for (const id of ids) {
        if (world.broker.history.some((m) => m.id === id))
          problems.push(`${id} of a rolled-back transaction was published`);
        if (world.inbox.outcome(CONSUMER, id) !== undefined)
          problems.push(`${id} of a rolled-back transaction in the inbox`);
      }
  }
  for (const [id] of committed) {
    const poison = world.plans.get(id)?.poison ?? false;
    const outcome = world.inbox.outcome(CONSUMER, id);
    const count = effectCount.get(id) ?? 0;
    if (poison || (!strict && outcome === 'dead-lettered')) {
      if (count !== 0) problems.push(`${id} dead-lettered yet applied ${count} time(s)`);
      if (outcome !== 'dead-lettered') problems.push(`poison ${id} has inbox outcome ${outcome ?? 'none'}`);
      if (!deadLettered.has(id))
        problems.push(`${id} dead-lettered in the inbox but not in the dead-letter queue`);
    } else {
      if (count !== 1) problems.push(`${id} applied ${count} time(s)`);
      if (outcome !== 'applied') problems.push(`${id} has inbox outcome ${outcome ?? 'none'}`);
    }
  }
  for (const id of deadLettered)
    if (!world.plans.get(id)?.poison && (strict || world.inbox.outcome(CONSUMER, id) !== 'dead-lettered'))
      problems.push(`healthy ${id} in the dead-letter queue`);
  if (strict)
    for (const id of world.deadLetteredHealthy) problems.push(`healthy ${id} dead-lettered by the consumer`);
  for (const [id] of committed) {
    const published = world.broker.publishedCount.get(id) ?? 0;
    // Claims hold partitions, so without a relay, broker or database fault no message is published twice
    // (a message routed to no queue sends the later ones of its aggregate in the batch out again, too).
    if (published === 0 || (published > 1 && !world.publishFaults && !world.broker.returnedAny))
      problems.push(`${id} published ${published} time(s)${world.publishFaults ? '' : ' without any fault'}`);
  }
  for (const store of world.stores) {
    const pending = store.pendingIds();
    if (pending.length > 0) problems.push(`${store.source} outbox still pending: ${pending.join(' ')}`);
    if (store.heldClaims > 0) problems.push(`${store.source} outbox has ${store.heldClaims} claim(s) held`);
  }
  if (!world.quiet)
    problems.push(
      `not quiet after draining: queue ${world.broker.queue.map((q) => q.message.id).join(' ')}, producers done ${world.producersDone}`,
    );
  return problems;
}
