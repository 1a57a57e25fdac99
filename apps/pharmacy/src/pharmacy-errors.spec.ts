import { ErrorProbe, startErrorProbe } from '@hospital/fhir/errors/testing/error-probe';
import { DomainException } from '@hospital/platform';
import { deliverFailing } from '@hospital/transactions/testing/failing-consumer';
import { DispensingErrorCode, DispensingException } from './dispensing/dispenses/dispensing.exception';
import { InventoryErrorCode, InventoryException } from './inventory/stock/stock.exception';
import { SupplierErrorCode, SupplierException } from './supplier/shipping/supplier.exception';
import { SupplyChainErrorCode, SupplyChainException } from './supply-chain/purchasing/supply-chain.exception';

/** How a client and a consumer see a code: written out here, so a changed mapping fails a test. */
interface Seen {
  status: number;
  title: string;
  issue: string;
  message: 'retry' | 'dead-letter';
}

const badRequest = { status: 400, title: 'Bad Request', issue: 'invalid', message: 'dead-letter' } as const;
const conflict = { status: 409, title: 'Conflict', issue: 'conflict', message: 'dead-letter' } as const;
const notFound = { status: 404, title: 'Not Found', issue: 'not-found', message: 'dead-letter' } as const;

const dispensing: Record<DispensingErrorCode, Seen> = {
  [DispensingErrorCode.MedicationMissing]: badRequest,
  [DispensingErrorCode.UnknownMedication]: {
    status: 422,
    title: 'Unprocessable Entity',
    issue: 'not-found',
    message: 'dead-letter',
  },
  [DispensingErrorCode.InvalidQuantity]: badRequest,
  [DispensingErrorCode.InvalidLocation]: badRequest,
  [DispensingErrorCode.UnsupportedStatus]: badRequest,
};
const inventory: Record<InventoryErrorCode, Seen> = {
  [InventoryErrorCode.StockNotFound]: notFound,
  [InventoryErrorCode.InvalidQuery]: badRequest,
};
const supplyChain: Record<SupplyChainErrorCode, Seen> = {
  [SupplyChainErrorCode.InvalidPurchaseOrder]: badRequest,
  [SupplyChainErrorCode.ReorderConflict]: conflict,
  [SupplyChainErrorCode.UnknownPurchaseOrder]: notFound,
  [SupplyChainErrorCode.DeliveryMismatch]: badRequest,
  [SupplyChainErrorCode.AlreadyDelivered]: conflict,
  [SupplyChainErrorCode.MessageServerUnavailable]: {
    status: 503,
    title: 'Service Unavailable',
    issue: 'transient',
    message: 'retry',
  },
};
const supplier: Record<SupplierErrorCode, Seen> = {
  [SupplierErrorCode.PurchaseOrderConflict]: conflict,
};

interface Case {
  module: string;
  code: string;
  error: DomainException;
  seen: Seen;
  expression: string[];
}

function casesOf<C extends string>(
  module: string,
  table: Record<C, Seen>,
  make: (code: C, message: string) => DomainException<C>,
  expression: string[] = [],
): Case[] {
  return (Object.keys(table) as C[]).map((code) => ({
    module,
    code,
    error: make(code, `${module} refused: ${code}`),
    seen: table[code],
    expression,
  }));
}

const cases: Case[] = [
  ...casesOf(
    'dispensing',
    dispensing,
    (code, message) => new DispensingException(code, message, ['MedicationDispense.quantity']),
    ['MedicationDispense.quantity'],
  ),
  ...casesOf('inventory', inventory, (code, message) => new InventoryException(code, message)),
  ...casesOf(
    'supply-chain',
    supplyChain,
    (code, message) => new SupplyChainException(code, message, ['SupplyRequest.deliverTo']),
    ['SupplyRequest.deliverTo'],
  ),
  ...casesOf('supplier', supplier, (code, message) => new SupplierException(code, message)),
];
const each = cases.map((c, index) => [`${c.module} ${c.code}`, c, index] as const);

describe('pharmacy errors over HTTP (the filter every pharmacy service registers)', () => {
  let probe: ErrorProbe;
  beforeAll(async () => {
    probe = await startErrorProbe(cases.map((c) => c.error));
  });
  afterAll(() => probe.close());

  it.each(each)('answers %s on a FHIR route with its status and OperationOutcome', async (_, c, index) => {
    const answer = await probe.get('fhir', index);
    expect(answer.status).toBe(c.seen.status);
    expect(answer.contentType).toMatch(/^application\/fhir\+json/);
    const issue: Record<string, unknown> = {
      severity: 'error',
      code: c.seen.issue,
      diagnostics: `${c.module} refused: ${c.code}`,
    };
    if (c.expression.length > 0) issue.expression = c.expression;
    expect(answer.body).toEqual({ resourceType: 'OperationOutcome', issue: [issue] });
  });

  it.each(each)('answers %s on an /api route with its status and problem JSON', async (_, c, index) => {
    const answer = await probe.get('api', index);
    expect(answer.status).toBe(c.seen.status);
    expect(answer.contentType).toMatch(/^application\/problem\+json/);
    const problem: Record<string, unknown> = {
      type: `urn:hospital:problem:${c.module}:${c.code}`,
      title: c.seen.title,
      status: c.seen.status,
      detail: `${c.module} refused: ${c.code}`,
      code: c.code,
    };
    if (c.expression.length > 0) problem.expression = c.expression;
    expect(answer.body).toEqual(problem);
  });
});

describe('pharmacy errors in message consumers (the inbox consumer over the in-memory inbox)', () => {
  it.each(each)('settles %s as its code says, with the code as the reason', async (_, c) => {
    const reason = `${c.code}: ${c.module} refused: ${c.code}`;
    const first = await deliverFailing(c.error, { deliveryCount: 0, maxAttempts: 3 });
    if (c.seen.message === 'dead-letter') {
      expect(first.disposition).toEqual({ kind: 'dead-letter', reason });
      expect(first.inbox).toEqual({ outcome: 'dead-lettered', reason });
    } else {
      expect(first.disposition).toEqual({ kind: 'retry', reason: `failed 1 time(s): ${reason}` });
      expect(first.inbox).toBeUndefined();
      const last = await deliverFailing(c.error, { deliveryCount: 2, maxAttempts: 3 });
      expect(last.disposition).toEqual({ kind: 'dead-letter', reason: `failed 3 time(s): ${reason}` });
    }
  });
});
