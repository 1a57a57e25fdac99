import { isLeftoverQueue, parseQueueList } from '../../scripts/infra/rabbitmq-leftovers';

describe('leftover spec queues', () => {
  it('are the idle queues of a namespace ending in a run id', () => {
    expect(isLeftoverQueue('gateway-e2e-2a4dfb42.pacs.worklist', 0)).toBe(true);
    expect(isLeftoverQueue('pq0a1b2c3d.pacs.quota-completions.dead-letter', 0)).toBe(true);
    expect(isLeftoverQueue('route-refusals-5e6f7a8b.audit.records', 0)).toBe(true);
  });

  it('never the hospital own queues, a fixed namespace or a queue still consumed', () => {
    expect(isLeftoverQueue('pharmacy.inventory.dispenses', 0)).toBe(false);
    expect(isLeftoverQueue('emr.order-results', 0)).toBe(false);
    expect(isLeftoverQueue('faults-hl7.emr.order-results', 0)).toBe(false);
    expect(isLeftoverQueue('gateway-e2e-2a4dfb42.pacs.worklist', 1)).toBe(false);
    expect(isLeftoverQueue('deadbeef', 0)).toBe(false);
  });

  it('reads rabbitmqctl list_queues output', () => {
    expect(parseQueueList('a.b\t0\nemr.order-results\t2\n\nnot a line\n')).toEqual([
      { name: 'a.b', consumers: 0 },
      { name: 'emr.order-results', consumers: 2 },
    ]);
  });
});
