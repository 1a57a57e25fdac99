import { Transform } from 'class-transformer';
import { ArrayUnique, IsArray, IsIn, IsString, Matches } from 'class-validator';

/** The channels a confirmation can leave by, each delivered (and retried) by its own dispatcher. */
export const CONFIRMATION_CHANNELS = ['email', 'sms', 'push'] as const;
export type ConfirmationChannel = (typeof CONFIRMATION_CHANNELS)[number];

/** `email, sms` → `['email', 'sms']`; `none` or blank → `[]`; anything else is left for the validator. */
export const toChannelList = ({ value }: { value: unknown }): unknown =>
  typeof value === 'string'
    ? value.trim() === 'none'
      ? []
      : value
          .split(',')
          .map((part) => part.trim())
          .filter((part) => part !== '')
    : value;

/**
 * Where confirmations go and by which channels. The recipients' addresses are derived from their ids
 * (see `confirmation.ts`): the real contact lookup belongs to the EMR.
 */
export class ConfirmationsEnvironment {
  /** The SMTP server e-mail confirmations are handed to (`smtp://host:port`, no authentication). */
  @IsString() @Matches(/^smtps?:\/\/[^/]+/) SMTP_URL: string = 'smtp://127.0.0.1:2525';
  /** The sender of confirmation e-mails. */
  @IsString() SMTP_FROM: string = 'appointments@hospital.test';
  /** The SMS gateway: confirmations are POSTed to it as JSON. */
  @IsString() @Matches(/^https?:\/\//) SMS_GATEWAY_URL: string = 'http://127.0.0.1:3062/messages';
  /** The push gateway: confirmations are POSTed to it as JSON. */
  @IsString() @Matches(/^https?:\/\//) PUSH_GATEWAY_URL: string = 'http://127.0.0.1:3063/notifications';
  /** The channels the clinician (the practitioner) is told by, comma-separated, or `none`. */
  @Transform(toChannelList)
  @IsArray()
  @ArrayUnique()
  @IsIn(CONFIRMATION_CHANNELS, { each: true })
  CONFIRM_CLINICIAN_CHANNELS: ConfirmationChannel[] = ['email'];
  /** The channels the patient is told by, comma-separated, or `none`. */
  @Transform(toChannelList)
  @IsArray()
  @ArrayUnique()
  @IsIn(CONFIRMATION_CHANNELS, { each: true })
  CONFIRM_PATIENT_CHANNELS: ConfirmationChannel[] = ['email', 'sms', 'push'];
}
