import { Inject, Injectable } from '@nestjs/common';
import { isISO8601 } from 'class-validator';
import { Session } from '@hospital/platform';
import {
  DeadLetteredNotification,
  InvalidCursorError,
  NewNotification,
  Notification,
  NotificationDetail,
  ReconciliationPage,
} from '../ports/best-effort.ports';
import {
  NotificationBacklog,
  PostgresNotificationStore,
} from '../adapters/postgres/postgres-notification-store';
import { BestEffortErrorCode, BestEffortException } from './best-effort.exception';

/** The channel names a service configured (token of `BestEffortModule`). */
export const NOTIFICATION_CHANNELS = Symbol('NOTIFICATION_CHANNELS');

/**
 * A service's notifications: `append` in the local transaction of the change (then `notify()` after the
 * commit), and what `/api/notifications` serves.
 */
@Injectable()
export class Notifications {
  constructor(
    @Inject(PostgresNotificationStore) private readonly store: PostgresNotificationStore,
    @Inject(NOTIFICATION_CHANNELS) private readonly channels: readonly string[],
  ) {}

  /** Writes notifications in the caller's transaction; a channel the service did not configure is refused. */
  append(session: Session, notifications: readonly NewNotification[]): Promise<Notification[]> {
    const unknown = notifications.find((n) => !this.channels.includes(n.channel));
    if (unknown)
      throw new BestEffortException(
        BestEffortErrorCode.UnknownChannel,
        `no notification channel '${unknown.channel}' is configured`,
      );
    return this.store.append(session, notifications);
  }

  /** Wakes the dispatchers (call after the commit). */
  notify(): void {
    this.store.notify();
  }

  async since(receiver: string, since: string | undefined, limit: number): Promise<ReconciliationPage> {
    const from = since !== undefined && isISO8601(since, { strict: true }) ? new Date(since) : since;
    try {
      return await this.store.since(receiver, from, limit);
    } catch (error) {
      if (error instanceof InvalidCursorError)
        throw new BestEffortException(
          BestEffortErrorCode.InvalidCursor,
          'since must be an earlier page’s next cursor or an ISO 8601 time',
          ['since'],
        );
      throw error;
    }
  }

  deadLetters(limit: number, channel?: string): Promise<DeadLetteredNotification[]> {
    return this.store.deadLetters(limit, channel);
  }

  async replay(id: string): Promise<{ id: string; replayed: true }> {
    const result = await this.store.replay(id);
    switch (result) {
      case 'replayed':
        return { id, replayed: true };
      case 'unknown':
        throw this.unknown(id);
      case 'not-dead-lettered':
        throw new BestEffortException(
          BestEffortErrorCode.NotDeadLettered,
          `notification ${id} is not dead-lettered; only dead letters are replayed`,
        );
    }
  }

  async find(id: string): Promise<NotificationDetail> {
    const found = await this.store.find(id);
    if (!found) throw this.unknown(id);
    return found;
  }

  backlog(): Promise<NotificationBacklog> {
    return this.store.backlog();
  }

  private unknown(id: string): BestEffortException {
    return new BestEffortException(
      BestEffortErrorCode.UnknownNotification,
      `no notification ${id.slice(0, 100)}`,
    );
  }
}
