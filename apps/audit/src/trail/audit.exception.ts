import { DomainException, ErrorCodeMappings } from '@hospital/platform';

export enum AuditErrorCode {
  InvalidSearch = 'invalid-search',
  NotFound = 'not-found',
  InvalidExport = 'invalid-export',
}

export const AUDIT_ERRORS: ErrorCodeMappings<AuditErrorCode> = {
  [AuditErrorCode.InvalidSearch]: { status: 400, issue: 'invalid', message: 'dead-letter' },
  [AuditErrorCode.NotFound]: { status: 404, issue: 'not-found', message: 'dead-letter' },
  [AuditErrorCode.InvalidExport]: { status: 400, issue: 'invalid', message: 'dead-letter' },
};

export class AuditException extends DomainException<AuditErrorCode> {
  constructor(code: AuditErrorCode, message: string, expression: readonly string[] = []) {
    super('audit', code, AUDIT_ERRORS, message, { expression });
  }
}
