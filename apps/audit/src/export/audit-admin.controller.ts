import { Controller, Get, Inject, Query, Res } from '@nestjs/common';
import type { Response } from 'express';
import { AuditEventRepository, type AuditRow } from '../trail/audit-event.repository';
import { AuditErrorCode, AuditException } from '../trail/audit.exception';
import { verifyChain, type VerificationReport } from '../trail/chain-verification';
import { CSV_COLUMNS, csvLine } from './csv';
import { Roles } from '@hospital/platform';

const PAGE = 1_000;

function instant(name: string, value: unknown): string {
  if (
    typeof value !== 'string' ||
    !/^\d{4}-\d{2}-\d{2}(T[\d:.]+(Z|[+-]\d{2}:\d{2}))?$/.test(value) ||
    Number.isNaN(Date.parse(value))
  )
    throw new AuditException(AuditErrorCode.InvalidExport, `${name} must be an ISO 8601 date or date-time`, [
      name,
    ]);
  return new Date(value).toISOString();
}

/**
 * Compliance operations on the trail: verify the hash chain (the first broken link, if any) and export a
 * date range as CSV for a compliance officer, streamed a page at a time.
 */
@Roles('auditor')
@Controller('api/audit')
export class AuditAdminController {
  constructor(@Inject(AuditEventRepository) private readonly repository: AuditEventRepository) {}

  /** Walks the whole chain in seq order and reports the first row that is not as it was appended. */
  @Get('verify')
  verify(): Promise<VerificationReport> {
    return verifyChain(this.repository);
  }

  /** `from` (inclusive) to `to` (exclusive) as CSV, in chain order, with each row's hash. */
  @Get('export')
  async export(
    @Query('from') fromRaw: unknown,
    @Query('to') toRaw: unknown,
    @Res() res: Response,
  ): Promise<void> {
    const from = instant('from', fromRaw);
    const to = instant('to', toRaw);
    if (from >= to)
      throw new AuditException(AuditErrorCode.InvalidExport, 'from must be before to', ['from', 'to']);
    res.status(200);
    res.setHeader('Content-Type', 'text/csv; charset=utf-8');
    res.setHeader(
      'Content-Disposition',
      `attachment; filename="audit-${from.slice(0, 10)}-${to.slice(0, 10)}.csv"`,
    );
    res.write(`${csvLine([...CSV_COLUMNS])}\r\n`);
    let after = 0;
    for (;;) {
      const rows: AuditRow[] = await this.repository.page(after, PAGE, { from, to });
      if (rows.length === 0) break;
      const chunk = rows.map((row) => `${csvLine(CSV_COLUMNS.map((c) => row[c]))}\r\n`).join('');
      if (!res.write(chunk)) await new Promise<void>((resolve) => res.once('drain', () => resolve()));
      after = rows[rows.length - 1].seq;
    }
    res.end();
  }
}
