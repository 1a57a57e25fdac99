import { Clock, withTimeout } from '../core/clock';
import { errorMessage } from '../core/observer';
import { BranchRecord } from '../ports/global-transaction';
import { Branch, Vote } from './types';

/**
 * What the two- and three-phase coordinators do alike with their participants: find each one's client,
 * take one branch per participant, turn a vote into a branch record, and back off in recovery.
 */

/** The client of a named participant; an unknown name is a programming error. */
export function participantClient<C>(clients: ReadonlyMap<string, C>, name: string): C {
  const client = clients.get(name);
  if (!client) throw new Error(`unknown participant '${name}'`);
  return client;
}

/**
 * Checks a transaction's branches before anything starts: every participant known, and one branch
 * each (a second prepare of the same branch would vote YES without its work).
 */
export function checkBranches(
  gtid: string,
  branches: readonly Branch[],
  clients: ReadonlyMap<string, unknown>,
): void {
  for (const b of branches) participantClient(clients, b.participant);
  if (new Set(branches.map((b) => b.participant)).size !== branches.length)
    throw new Error(`global transaction ${gtid} names a participant twice`);
}

/** A participant's vote as its branch record: YES is prepared; NO, an error or silence past `timeoutMs`, refused. */
export async function voteRecord(
  participant: string,
  vote: Promise<Vote>,
  timeoutMs: number,
  clock: Clock,
): Promise<BranchRecord> {
  try {
    const answer = await withTimeout(vote, timeoutMs, `vote of ${participant}`, clock);
    return answer.vote === 'yes'
      ? { participant, state: 'prepared' }
      : { participant, state: 'refused', reason: answer.reason };
  } catch (error) {
    return { participant, state: 'refused', reason: errorMessage(error) };
  }
}

/**
 * How long recovery leaves a transaction it could not finish before claiming it again: 1 s, 2 s, 4 s…
 * after each give-back, within the retry cap and the lease.
 */
export function recoveryBackoffMs(
  retries: number,
  options: { recoveryRetryMaxMs: number; recoveryLeaseMs: number },
): number {
  return Math.min(options.recoveryRetryMaxMs, options.recoveryLeaseMs, 1_000 * 2 ** Math.min(retries, 5));
}
