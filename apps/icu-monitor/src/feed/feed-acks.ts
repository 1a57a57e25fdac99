import { Injectable } from '@nestjs/common';

/**
 * The MQTT packets whose vital is settled — committed, or refused and dead-lettered — and may be
 * acknowledged. The feed's handler marks a packet; `VitalsFeedServer` sends its PUBACK only if it is
 * marked once the handler has finished, so a vital whose transaction did not commit is never acknowledged
 * and the broker delivers it again on the session's next connection.
 */
@Injectable()
export class FeedAcks {
  private readonly settled = new WeakSet<object>();

  settle(packet: object): void {
    this.settled.add(packet);
  }

  /** Whether `packet` was settled; forgets it. */
  take(packet: object): boolean {
    return this.settled.delete(packet);
  }
}
