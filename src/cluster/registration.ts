import { setTimeout as sleep } from 'node:timers/promises';
import { MetadataClient } from '../client/metadata-client.ts';
import { isStrataError } from '../common/errors.ts';
import type { DataServerRegistration } from '../metadata/types.ts';
import type { Logger } from '../observability/logger.ts';

const REGISTER_ATTEMPTS_MAX = 60;
const REGISTER_RETRY_MS = 500;

// A data server announces itself to the metadata service, retrying while that is still starting.
export async function registerDataServer(
  metadataAddr: string,
  server: DataServerRegistration,
  log: Logger,
): Promise<void> {
  // Comma-separated: any member of the metadata cluster will do.
  const metadata = new MetadataClient(metadataAddr.split(','), { timeoutMs: 5_000 });
  try {
    for (let attempt = 1; ; attempt++) {
      try {
        await metadata.apply({ op: 'registerDataServer', nowMs: Date.now(), server });
        log.info('data server registered', { serverId: server.serverId, metadataAddr });
        return;
      } catch (error) {
        // A removed server is refused for good: retrying cannot help.
        if (attempt >= REGISTER_ATTEMPTS_MAX || isStrataError(error, 'SERVER_REMOVED')) throw error;
        log.warn('metadata service not reachable yet; retrying', { metadataAddr, attempt, error });
        await sleep(REGISTER_RETRY_MS);
      }
    }
  } finally {
    await metadata.close();
  }
}
