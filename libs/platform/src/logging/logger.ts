import { AsyncLocalStorage } from 'node:async_hooks';
import { LoggerService } from '@nestjs/common';
import pino, { Logger } from 'pino';

/** Per-request context carried to every log line written while serving it. */
export interface LogContext {
  gtid?: string;
  /** A client's own reference for its request (`x-correlation-id`, or `x-gtid` as clients send it). */
  correlationId?: string;
  requestId?: string;
}

export const logContext = new AsyncLocalStorage<LogContext>();

/** Runs `work` with `gtid` attached to every log line written inside it. */
export function withGtid<T>(gtid: string, work: () => T): T {
  return logContext.run({ ...logContext.getStore(), gtid }, work);
}

/**
 * The service's structured JSON logger. Fields carry ids (gtid, resource ids, participants) and never
 * patient data: callers log resource types and ids, not resource contents, names or query strings.
 */
export function createLogger(service: string, level: string): Logger {
  return pino({
    level,
    base: { service },
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label) => ({ level: label }) },
    mixin: () => {
      const store = logContext.getStore();
      return store ? { ...store } : {};
    },
  });
}

/** Nest's LoggerService over pino, so framework messages come out as the same JSON lines. */
export class PinoNestLogger implements LoggerService {
  constructor(private readonly logger: Logger) {}

  log(message: unknown, context?: string): void {
    this.logger.info({ context }, String(message));
  }
  error(message: unknown, trace?: string, context?: string): void {
    this.logger.error({ context, trace }, String(message));
  }
  warn(message: unknown, context?: string): void {
    this.logger.warn({ context }, String(message));
  }
  debug(message: unknown, context?: string): void {
    this.logger.debug({ context }, String(message));
  }
  verbose(message: unknown, context?: string): void {
    this.logger.trace({ context }, String(message));
  }
  fatal(message: unknown, context?: string): void {
    this.logger.fatal({ context }, String(message));
  }
}
