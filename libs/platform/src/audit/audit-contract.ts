import 'reflect-metadata';
import { Type } from 'class-transformer';
import {
  IsIn,
  IsInt,
  IsISO8601,
  IsOptional,
  IsString,
  IsUUID,
  Max,
  MaxLength,
  Min,
  MinLength,
  ValidateNested,
} from 'class-validator';
import { ROLES } from '../auth/principal';
import type { AuditRecord } from './audit-record';
import { AUDIT_LONG_TEXT, AUDIT_SHORT_TEXT } from './audit-records';

/**
 * The audit trail's message contract: every service's audit records travel through its outbox to this
 * topic exchange, one message per record (the message id is the record id, so the audit service's inbox
 * stores each record once), and the audit service validates each against `AuditRecordMessage`.
 */
export const AUDIT_EXCHANGE = 'hospital.audit';
/** Message type of one audit record. */
export const AUDIT_RECORD_TYPE = 'audit.record';
/** Routing key of a record from `service`: the audit service binds `audit.record.#`. */
export const auditRoutingKey = (service: string): string => `${AUDIT_RECORD_TYPE}.${service}`;

const SHORT = AUDIT_SHORT_TEXT;
const LONG = AUDIT_LONG_TEXT;

export class AuditActorMessage {
  @IsIn(['user', 'service']) kind!: 'user' | 'service';
  @IsString() @MinLength(1) @MaxLength(SHORT) id!: string;
  @IsOptional() @IsString() @MaxLength(SHORT) name?: string;
  @IsOptional() @IsIn(ROLES) role?: (typeof ROLES)[number];
}

/** An `AuditRecord` as the audit service accepts it: the same fields, checked (unknown fields refused). */
export class AuditRecordMessage implements AuditRecord {
  @IsUUID() id!: string;
  @IsISO8601({ strict: true }) recorded!: string;
  @IsString() @MinLength(1) @MaxLength(SHORT) service!: string;
  @IsOptional() @ValidateNested() @Type(() => AuditActorMessage) actor?: AuditActorMessage;
  @IsIn(['C', 'R', 'U', 'D', 'E']) action!: AuditRecord['action'];
  @IsString() @MinLength(1) @MaxLength(SHORT) interaction!: string;
  @IsOptional() @IsString() @MaxLength(SHORT) resourceType?: string;
  @IsOptional() @IsString() @MaxLength(SHORT) resourceId?: string;
  @IsOptional() @IsString() @MaxLength(SHORT) patient?: string;
  @IsOptional() @IsString() @MaxLength(SHORT) gtid?: string;
  @IsIn(['0', '4', '8']) outcome!: AuditRecord['outcome'];
  @IsInt() @Min(100) @Max(599) status!: number;
  @IsOptional() @IsString() @MaxLength(LONG) reason?: string;
  @IsOptional() @IsString() @MaxLength(SHORT) sourceAddress?: string;
  @IsOptional() @IsString() @MaxLength(LONG) breakTheGlass?: string;
}
