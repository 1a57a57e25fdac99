import type { SupplyRequest } from '@medplum/fhirtypes';
import pino from 'pino';
import { FhirResourceStore, Stored } from '@hospital/fhir';
import { Database, Session } from '@hospital/platform';
import {
  DuplicateMessageError,
  MessageAbortedError,
  MessageTransactionProducer,
  TwoPhaseMessage,
} from '@hospital/transactions';
import { SupplyChainConfig } from '../../config';
import { purchaseOrderGtidFor } from './purchase-order';
import { PurchasingRepository, ReorderRecord } from './purchasing.repository';
import { PurchasingService, retryDelayMs } from './purchasing.service';
import { SupplyChainException, SupplyChainErrorCode } from './supply-chain.exception';

const claimed: ReorderRecord = {
  reorderId: 'r-1',
  origin: 'stock-low',
  medicationCode: '313782',
  locationId: 'ward-3a',
  quantity: 20,
  state: 'open',
  generation: 2,
  attempts: 3,
};

/** A service over stubs: what each placing outcome does to the reorder is the unit under test. */
function harness(
  run: (message: TwoPhaseMessage, work: (s: Session) => Promise<unknown>) => Promise<unknown>,
) {
  const session = {} as Session;
  const repository = {
    findReorder: jest.fn().mockResolvedValue(claimed),
    insertPurchaseOrder: jest.fn().mockResolvedValue(undefined),
    markOrdered: jest.fn().mockResolvedValue(undefined),
    release: jest.fn().mockResolvedValue(undefined),
    insertReorder: jest.fn().mockResolvedValue(true),
  };
  const stored = { resourceType: 'SupplyRequest', id: 'po', meta: { versionId: '1', lastUpdated: 'x' } };
  const store = { create: jest.fn().mockResolvedValue(stored) };
  const producer = {
    run: jest.fn((message: TwoPhaseMessage, work: (s: Session) => Promise<unknown>) => run(message, work)),
  };
  const service = new PurchasingService(
    {} as Database,
    store as unknown as FhirResourceStore,
    repository as unknown as PurchasingRepository,
    producer as unknown as MessageTransactionProducer<Session>,
    { env: { TX_RECOVERY_INTERVAL_MS: 0 } } as SupplyChainConfig,
    pino({ level: 'silent' }),
  );
  return { service, repository, store, producer, session, stored: stored as Stored<SupplyRequest> };
}

describe('PurchasingService.place', () => {
  it('writes the order, its SupplyRequest and the ordered reorder in the message of its generation', async () => {
    const h = harness((_message, work) => work({} as Session));
    const result = await h.service.place(claimed);
    expect(result).toEqual({ kind: 'placed', supplyRequest: h.stored });
    const [message] = h.producer.run.mock.calls[0];
    expect(message.gtid).toBe(purchaseOrderGtidFor('r-1', 2));
    expect(h.repository.insertPurchaseOrder).toHaveBeenCalledWith(
      expect.anything(),
      expect.objectContaining({ reorderId: 'r-1', gtid: purchaseOrderGtidFor('r-1', 2) }),
    );
    expect(h.repository.markOrdered).toHaveBeenCalledWith(expect.anything(), 'r-1');
    expect(h.repository.release).not.toHaveBeenCalled();
  });

  it('writes nothing when the reorder moved on meanwhile (the message then aborts)', async () => {
    const h = harness((_message, work) => work({} as Session));
    h.repository.findReorder.mockResolvedValue({ ...claimed, state: 'ordered' });
    expect((await h.service.place(claimed)).kind).toBe('retry');
    expect(h.repository.insertPurchaseOrder).not.toHaveBeenCalled();
  });

  it('moves to the next gtid only when the server settled this one as aborted', async () => {
    const h = harness(() => Promise.reject(new MessageAbortedError('g', 'check-back found no commit')));
    expect((await h.service.place(claimed)).kind).toBe('retry');
    expect(h.repository.release).toHaveBeenCalledWith(
      expect.anything(),
      claimed,
      expect.any(String),
      0,
      true,
    );
  });

  it('keeps the gtid and backs off after a transient failure (a resumed attempt re-uses it)', async () => {
    const h = harness(() => Promise.reject(new Error('connect ECONNREFUSED')));
    expect((await h.service.place(claimed)).kind).toBe('retry');
    expect(h.repository.release).toHaveBeenCalledWith(
      expect.anything(),
      claimed,
      'connect ECONNREFUSED',
      retryDelayMs(claimed.attempts),
      false,
    );
  });

  it('reports an order committed by an earlier run without placing it again', async () => {
    const h = harness(() => Promise.reject(new DuplicateMessageError('g')));
    expect(await h.service.place(claimed)).toEqual({ kind: 'already-placed' });
    expect(h.repository.release).not.toHaveBeenCalled();
  });
});

describe('PurchasingService.placeManual', () => {
  const manual: SupplyRequest = {
    resourceType: 'SupplyRequest',
    itemCodeableConcept: { coding: [{ code: '313782' }] },
    quantity: { value: 5 },
    deliverTo: { reference: 'Location/main-pharmacy' },
  };

  it('answers 503-worthy MessageServerUnavailable when the message could not be sent, leaving the reorder open', async () => {
    const h = harness(() => Promise.reject(new Error('message server down')));
    await expect(h.service.placeManual(manual)).rejects.toMatchObject({
      code: SupplyChainErrorCode.MessageServerUnavailable,
    });
    expect(h.repository.insertReorder).toHaveBeenCalled();
  });

  it('refuses a reorder identifier that already has its purchase order', async () => {
    const h = harness((_message, work) => work({} as Session));
    h.repository.insertReorder.mockResolvedValue(false);
    h.repository.findReorder.mockResolvedValue({
      ...claimed,
      origin: 'manual',
      quantity: 5,
      locationId: 'main-pharmacy',
      state: 'ordered',
    });
    const error = await h.service.placeManual(manual).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(SupplyChainException);
    expect((error as SupplyChainException).code).toBe(SupplyChainErrorCode.ReorderConflict);
    expect(h.producer.run).not.toHaveBeenCalled();
  });
});

describe('retryDelayMs', () => {
  it('doubles from 500 ms and stops at a minute', () => {
    expect([1, 2, 3].map(retryDelayMs)).toEqual([500, 1000, 2000]);
    expect(retryDelayMs(40)).toBe(60_000);
  });
});
