// What the best-effort property spec checks of a `BestEffortWorld` (best-effort-world.ts): safety after
// every step, completeness once faults stop. The checks read the world's records (claims, channel calls,
// receivers' ledgers) and the store's rows; they never ask the dispatcher what it meant to do.
import { backoffBounds } from '../best-effort/backoff';
import { MemoryNotificationRow } from './best-effort-memory';
import { BestEffortWorld, ChannelCall } from './best-effort-world';

/** What must hold at every instant, whatever the faults. */
export function checkSafety(world: BestEffortWorld): string[] {
  const problems = [...world.violations];
  const { maxAttempts } = world.scenario.policy;
  const committedKeys = new Set([...world.store.rows.values()].map((row) => row.notification.idempotencyKey));
  for (const [receiver, ledger] of world.ledgers) {
    for (const key of ledger.receipts) {
      // Nothing delivered that was not logged: a rolled-back or still-open write never reaches a receiver.
      if (!committedKeys.has(key)) problems.push(`${receiver} received ${key}, which never committed`);
      if (world.rolledBackKeys.has(key)) problems.push(`${receiver} received ${key} of a rolled-back change`);
    }
    if (new Set(ledger.deduped).size !== ledger.deduped.length)
      problems.push(`${receiver}'s de-duplicated ledger holds a key twice`);
  }
  for (const row of world.store.rows.values()) {
    const id = row.notification.id;
    if (world.rolledBackKeys.has(row.notification.idempotencyKey))
      problems.push(`${id} is in the log although its transaction rolled back`);
    if (row.attempts - row.roundStart > maxAttempts)
      problems.push(`${id} had ${row.attempts - row.roundStart} attempts in a round (max ${maxAttempts})`);
    if (row.state === 'delivered' && !receivedBy(world, row))
      problems.push(`${id} is marked delivered but ${row.notification.receiver} never received it`);
    if (row.state !== 'delivered' && row.attemptRecords.some((r) => r.outcome === 'delivered'))
      problems.push(`${id} has a delivered attempt but is ${row.state}`);
    if (row.state === 'dead-lettered' && !gaveUpFairly(row, maxAttempts))
      problems.push(
        `${id} dead-lettered after ${row.attempts - row.roundStart} attempts without a rejection`,
      );
    problems.push(...checkAttemptRecords(world, row));
  }
  return problems;
}

/**
 * Once faults stopped and the dispatchers drained the log: every committed notification delivered or
 * dead-lettered (`afterReplay`: delivered, every dead letter having been replayed), each received at least
 * once and held once in the receiver's de-duplicated ledger; every call of a dispatcher still alive has
 * its outcome recorded; back-off delays within their bounds; reconciliation returns exactly the
 * receiver's committed notifications.
 */
export function checkComplete(world: BestEffortWorld, afterReplay: boolean): string[] {
  const problems: string[] = [];
  for (const row of world.store.rows.values()) {
    const id = row.notification.id;
    if (row.state === 'pending') problems.push(`${id} still pending after draining`);
    if (afterReplay && row.state !== 'delivered') problems.push(`${id} not delivered after its replay`);
    if (row.state === 'delivered') {
      const ledger = world.ledgers.get(row.notification.receiver);
      const held = ledger?.deduped.filter((k) => k === row.notification.idempotencyKey).length ?? 0;
      if (held !== 1) problems.push(`${id} held ${held} times in ${row.notification.receiver}'s ledger`);
    }
  }
  for (const row of world.store.rows.values())
    for (const record of row.attemptRecords)
      if (record.outcome === undefined)
        problems.push(`${row.notification.id}#${record.number} never ended (not even found abandoned)`);
  for (const call of world.calls) {
    if (!call.incarnation.owner.alive) continue;
    const record = recordOf(world, call);
    if (record?.outcome === undefined || record.outcome === 'abandoned')
      problems.push(`${call.notification.id}#${call.attempt} by a live dispatcher has no outcome recorded`);
  }
  problems.push(...checkBackoff(world));
  return problems;
}

/** Reconciliation, paged on from each receiver's cursor to the end, returned each committed one exactly once. */
export function checkReconciled(world: BestEffortWorld): string[] {
  const problems: string[] = [];
  for (const [receiver, ledger] of world.ledgers) {
    const expected = [...world.store.rows.values()]
      .filter((row) => row.notification.receiver === receiver)
      .map((row) => row.notification.id)
      .sort();
    const got = [...ledger.reconciled].sort();
    if (JSON.stringify(expected) !== JSON.stringify(got))
      problems.push(
        `reconciliation for ${receiver} returned [${got.join(', ')}], expected [${expected.join(', ')}]`,
      );
  }
  return problems;
}

function receivedBy(world: BestEffortWorld, row: MemoryNotificationRow): boolean {
  return (
    world.ledgers.get(row.notification.receiver)?.receipts.includes(row.notification.idempotencyKey) ?? false
  );
}

/** Dead-lettered only after a rejection in its current round, or after the round's last attempt. */
function gaveUpFairly(row: MemoryNotificationRow, maxAttempts: number): boolean {
  if (row.attempts - row.roundStart === maxAttempts) return true;
  return row.attemptRecords.some((r) => r.number > row.roundStart && r.outcome === 'rejected');
}

function recordOf(
  world: BestEffortWorld,
  call: ChannelCall,
): MemoryNotificationRow['attemptRecords'][number] | undefined {
  return world.store.rows.get(call.notification.id)?.attemptRecords.find((r) => r.number === call.attempt);
}

/** Attempts recorded match the deliveries tried: numbered 1, 2, 3…, each outcome backed by its call's answer. */
function checkAttemptRecords(world: BestEffortWorld, row: MemoryNotificationRow): string[] {
  const problems: string[] = [];
  const id = row.notification.id;
  row.attemptRecords.forEach((record, i) => {
    if (record.number !== i + 1) problems.push(`${id}'s attempt records are not numbered 1, 2, 3…`);
  });
  if (row.attemptRecords.length !== row.attempts)
    problems.push(`${id} counts ${row.attempts} attempts but records ${row.attemptRecords.length}`);
  for (const record of row.attemptRecords) {
    if (record.outcome === undefined || record.outcome === 'abandoned') continue;
    const call = world.calls.find((c) => c.notification.id === id && c.attempt === record.number);
    if (!call) {
      problems.push(`${id}#${record.number} recorded ${record.outcome} but no delivery was tried`);
      continue;
    }
    const fitting: Record<string, (string | undefined)[]> = {
      delivered: ['ok'],
      rejected: ['reject'],
      failed: ['fail', 'lost-reply', 'throw'],
      // Unanswered within the time-out; the answer may have come later.
      timeout: [undefined, 'ok', 'fail', 'reject', 'lost-reply', 'throw'],
    };
    if (!fitting[record.outcome].includes(call.fate))
      problems.push(
        `${id}#${record.number} recorded ${record.outcome}, but the channel answered ${call.fate}`,
      );
  }
  return problems;
}

/**
 * Each retry's delay is within the back-off bounds of its attempt's number in the round (and, with
 * decorrelated jitter, at most three times the delay before), and the next attempt began no earlier.
 */
function checkBackoff(world: BestEffortWorld): string[] {
  const problems: string[] = [];
  const { backoff } = world.scenario.policy;
  for (const row of world.store.rows.values()) {
    const id = row.notification.id;
    for (const record of row.attemptRecords) {
      if (record.retryDelayMs === undefined) continue;
      const claim = world.claims.get(BestEffortWorld.claimKey(id, record.number));
      if (!claim) {
        problems.push(`${id}#${record.number} has a retry delay but no claim`);
        continue;
      }
      const { roundNumber, previousDelayMs } = claim.attempt;
      if (record.outcome === 'rejected')
        problems.push(`${id}#${record.number} was rejected for good, yet a retry was scheduled`);
      if (roundNumber >= world.scenario.policy.maxAttempts)
        problems.push(`${id}#${record.number} was the round's last attempt, yet a retry was scheduled`);
      const bounds = backoffBounds(roundNumber, backoff);
      const delay = record.retryDelayMs;
      if (delay < bounds.minMs || delay > bounds.maxMs)
        problems.push(`${id}#${record.number}: delay ${delay} ms outside [${bounds.minMs}, ${bounds.maxMs}]`);
      if (
        backoff.jitter === 'decorrelated' &&
        delay > 3 * Math.max(backoff.baseDelayMs, previousDelayMs ?? 0)
      )
        problems.push(`${id}#${record.number}: delay ${delay} ms more than three times the one before`);
      const next = row.attemptRecords.find((r) => r.number === record.number + 1);
      const finished = record.finishedAt?.getTime() ?? 0;
      if (next && next.startedAt.getTime() < finished + delay)
        problems.push(
          `${id}#${record.number + 1} began ${finished + delay - next.startedAt.getTime()} ms early`,
        );
    }
  }
  return problems;
}
