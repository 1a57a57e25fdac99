import { completionEvents, loggedReservations } from './quota-completion';

describe('quota completion', () => {
  const slot = { key: 'g:consults:0', resource: 'slot:s', units: 1, epoch: 3 };

  it('is one event per participant holding reservations, none for a participant without', () => {
    const events = completionEvents(
      'g',
      new Map([
        ['appointments', [slot]],
        ['pacs', []],
      ]),
    );
    expect(events).toEqual([
      {
        id: 'g:quota-completed:appointments',
        exchange: 'care-plans.events',
        routingKey: 'quota.completed.appointments',
        type: 'QuotaReservationsCompleted',
        aggregateId: 'g',
        gtid: 'g',
        payload: { gtid: 'g', reservations: [slot] },
      },
    ]);
  });

  it('reads the reservations a step logged, and refuses anything else', () => {
    expect(loggedReservations({ reservations: [slot] }, 'consults')).toEqual([slot]);
    expect(loggedReservations({ reservations: [] }, 'imaging')).toEqual([]);
    for (const bad of [undefined, null, {}, { reservations: {} }, { reservations: [{ ...slot, epoch: -1 }] }])
      expect(() => loggedReservations(bad, 'regimen')).toThrow(/regimen/);
    expect(() => loggedReservations({ reservations: [{ ...slot, units: 0 }] }, 'x')).toThrow(/malformed/);
  });
});
