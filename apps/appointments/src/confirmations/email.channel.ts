import { Inject, Injectable, OnApplicationShutdown } from '@nestjs/common';
import { createTransport } from 'nodemailer';
import { environmentOf, SERVICE_CONFIG, type ServiceConfig } from '@hospital/platform';
import {
  BestEffortEnvironment,
  type DeliveryContext,
  type DeliveryResult,
  type Notification,
  type NotificationChannel,
} from '@hospital/transactions';
import { confirmationText, type ConfirmationPayload } from './confirmation';
import { ConfirmationsEnvironment } from './confirmations.environment';

/** The channel name of e-mail confirmations. */
export const EMAIL_CHANNEL = 'email';
/** The domain of confirmation Message-IDs. */
export const MESSAGE_ID_DOMAIN = 'appointments.hospital.test';

/**
 * The Message-ID of a confirmation: its idempotency key (colons, which an RFC 5322 id may not hold, become
 * slashes), so a mail server or mailbox that sees the same confirmation twice can drop the copy.
 */
export function messageIdOf(idempotencyKey: string): string {
  return `<${idempotencyKey.replaceAll(':', '/')}@${MESSAGE_ID_DOMAIN}>`;
}

/**
 * How an SMTP failure counts: a 5xx reply is permanent (the server will never take this mail: a bad
 * address, a policy refusal), a 4xx reply temporary; no reply at all (refused, reset, timed out) is worth
 * another try.
 */
export function smtpResultOf(error: unknown): DeliveryResult {
  const { responseCode, code, message } = (error ?? {}) as {
    responseCode?: unknown;
    code?: unknown;
    message?: unknown;
  };
  const reason = [
    typeof responseCode === 'number' ? `SMTP ${responseCode}` : undefined,
    typeof code === 'string' ? code : undefined,
    typeof message === 'string' ? message.split('\n')[0].slice(0, 200) : String(error),
  ]
    .filter((part) => part !== undefined)
    .join(' ');
  if (typeof responseCode === 'number' && responseCode >= 500 && responseCode < 600)
    return { kind: 'permanent', reason };
  return { kind: 'retryable', reason };
}

/**
 * Hands e-mail confirmations to the SMTP server at `SMTP_URL` (nodemailer, one connection per message, so
 * a server that went away is found at the next attempt): a plain-text mail naming the recipient by the
 * booking reference only, with the notification's idempotency key as its Message-ID and in
 * `X-Idempotency-Key`. Accepted is delivered; 4xx, refused or timed out retried; 5xx dead-lettered.
 */
@Injectable()
export class EmailChannel implements NotificationChannel, OnApplicationShutdown {
  private readonly transport: ReturnType<typeof createTransport>;
  private readonly from: string;

  constructor(@Inject(SERVICE_CONFIG) config: ServiceConfig) {
    const env = environmentOf(config, ConfirmationsEnvironment);
    const timeoutMs = environmentOf(config, BestEffortEnvironment).NOTIFICATION_ATTEMPT_TIMEOUT_MS;
    const url = new URL(env.SMTP_URL);
    this.from = env.SMTP_FROM;
    this.transport = createTransport({
      host: url.hostname,
      port: Number(url.port || (url.protocol === 'smtps:' ? 465 : 25)),
      secure: url.protocol === 'smtps:',
      // A sink or relay on loopback speaks plain SMTP; STARTTLS is used when offered elsewhere.
      ignoreTLS: url.hostname === '127.0.0.1' || url.hostname === 'localhost',
      connectionTimeout: timeoutMs,
      greetingTimeout: timeoutMs,
      socketTimeout: timeoutMs,
      logger: false,
    });
  }

  async deliver(notification: Notification, { signal }: DeliveryContext): Promise<DeliveryResult> {
    const payload = notification.payload as ConfirmationPayload;
    const { subject, text } = confirmationText(payload);
    const sending = this.transport.sendMail({
      from: this.from,
      to: payload.address,
      subject,
      text,
      messageId: messageIdOf(notification.idempotencyKey),
      headers: { 'X-Idempotency-Key': notification.idempotencyKey },
    });
    try {
      await Promise.race([sending, aborted(signal)]);
      return { kind: 'delivered' };
    } catch (error) {
      return smtpResultOf(error);
    } finally {
      sending.catch(() => undefined);
    }
  }

  onApplicationShutdown(): void {
    this.transport.close();
  }
}

/** Rejects when the attempt's time-out aborts it (nodemailer's own time-outs also end the exchange). */
function aborted(signal: AbortSignal): Promise<never> {
  return new Promise((_, reject) => {
    const fail = () => reject(Object.assign(new Error('attempt timed out'), { code: 'ETIMEDOUT' }));
    if (signal.aborted) fail();
    else signal.addEventListener('abort', fail, { once: true });
  });
}
