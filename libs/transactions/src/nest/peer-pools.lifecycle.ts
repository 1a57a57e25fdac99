import { Injectable, OnApplicationShutdown } from '@nestjs/common';
import { closePeerPools } from '../adapters/http/peer-pools';

/** Closes the connections to peer services when the service stops, so none is left holding the process. */
@Injectable()
export class PeerPoolsLifecycle implements OnApplicationShutdown {
  onApplicationShutdown(): Promise<void> {
    return closePeerPools();
  }
}
