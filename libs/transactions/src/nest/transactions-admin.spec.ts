import { ServiceConfig, Session, TwoPhaseCommitEnvironment } from '@hospital/platform';
import { PostgresResolutionLog, PostgresTransactionHealth } from '../adapters/postgres/postgres-in-doubt';
import { InDoubtBranch } from '../ports/two-phase-commit.ports';
import { TwoPhaseParticipant } from '../two-phase-commit/participant';
import { InDoubtAdmin } from './transactions-admin.controller';

const config = {
  service: { name: 'lis' },
  env: { TX_IN_DOUBT_AFTER_MS: 10_000 },
  pieces: new Set([TwoPhaseCommitEnvironment]),
} as unknown as ServiceConfig;

/** A participant that holds `branches` prepared. */
function participantHolding(branches: InDoubtBranch[]): TwoPhaseParticipant<Session> {
  return { prepared: () => Promise.resolve(branches) } as unknown as TwoPhaseParticipant<Session>;
}

describe('InDoubtAdmin on a participant', () => {
  const old: InDoubtBranch = { gtid: 'g-old', coordinator: 'emr', preparedAt: new Date(Date.now() - 60_000) };
  const young: InDoubtBranch = { gtid: 'g-young', coordinator: 'emr', preparedAt: new Date() };
  const admin = new InDoubtAdmin(
    config,
    {} as PostgresTransactionHealth,
    {} as PostgresResolutionLog,
    undefined,
    participantHolding([young, old]),
  );

  it('counts only branches older than TX_IN_DOUBT_AFTER_MS as in doubt, and no coordinator role', async () => {
    expect(await admin.inDoubtCounts()).toEqual({ participant: 1 });
  });

  it('lists every prepared branch, oldest first, marking the overdue ones', async () => {
    const listed = await admin.list();
    expect(listed.map((t) => [t.gtid, t.overdue])).toEqual([
      ['g-old', true],
      ['g-young', false],
    ]);
    expect(listed[0].ageSeconds).toBeGreaterThanOrEqual(60);
    expect(listed[0]).toMatchObject({ role: 'participant', coordinator: 'emr', state: 'prepared' });
  });
});
