import { QUOTA_COMPLETIONS_EXCHANGE, quotaCompletionMessages } from './completion-messages';

describe('quota completion messages', () => {
  const slot = {
    participant: 'appointments',
    key: 'g:consults:0',
    gtid: 'g',
    resource: 'slot:s',
    units: 1,
    epoch: 'e1',
  };
  const drug = { ...slot, participant: 'pharmacy', key: 'g:regimen', resource: 'drug:1@w', units: 3 };

  it('is one event per participant holding reservations, with a fixed id and every reservation key', () => {
    expect(quotaCompletionMessages('g', [slot, { ...slot, key: 'g:consults:1' }, drug])).toEqual([
      {
        id: 'g:quota-completed:appointments',
        exchange: QUOTA_COMPLETIONS_EXCHANGE,
        routingKey: 'quota.completed.appointments',
        type: 'QuotaReservationsCompleted',
        aggregateId: 'g:appointments',
        gtid: 'g',
        payload: {
          gtid: 'g',
          reservations: [
            { key: 'g:consults:0', resource: 'slot:s', units: 1, epoch: 'e1' },
            { key: 'g:consults:1', resource: 'slot:s', units: 1, epoch: 'e1' },
          ],
        },
      },
      expect.objectContaining({
        id: 'g:quota-completed:pharmacy',
        routingKey: 'quota.completed.pharmacy',
        payload: {
          gtid: 'g',
          reservations: [{ key: 'g:regimen', resource: 'drug:1@w', units: 3, epoch: 'e1' }],
        },
      }),
    ]);
    expect(quotaCompletionMessages('g', [])).toEqual([]);
  });
});
