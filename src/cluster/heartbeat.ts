// A data server's heartbeats: every interval it tells the metadata leader it is alive, with its
// disks' capacity, free bytes and health. Any member will do (a follower passes it to the leader);
// when one stops answering the next is tried, so heartbeats follow leader changes. A server the
// cluster does not know (ENOENT) registers again.
import assert from 'node:assert/strict';
import { isStrataError } from '../common/errors.ts';
import type { DiskStatus } from '../data/types.ts';
import type { HeartbeatReport } from '../metadata/liveness-monitor.ts';
import { METADATA_RPC } from '../metadata/types.ts';
import type { Logger } from '../observability/logger.ts';
import { dataHeartbeatFailures } from '../observability/metrics.ts';
import { RpcClient } from '../rpc/index.ts';

export interface HeartbeatOptions {
  metadataAddrs: string[]; // any members of the metadata cluster
  serverId: string;
  intervalMs: number;
  disks(): Promise<DiskStatus[]>;
  register(): Promise<void>; // registers the server again
  log: Logger;
}

export interface HeartbeatSender {
  stop(): Promise<void>;
}

export function startHeartbeats(options: HeartbeatOptions): HeartbeatSender {
  assert.ok(options.metadataAddrs.length > 0, 'a metadata address is needed');
  assert.ok(options.intervalMs > 0, 'the heartbeat interval is > 0');
  // A heartbeat older than a few intervals tells the detector nothing new: give up on it.
  const timeoutMs = Math.max(1_000, 2 * options.intervalMs);
  const rpcs = options.metadataAddrs.map(
    (addr) => new RpcClient(addr, { connectTimeoutMs: 1_000, defaultTimeoutMs: timeoutMs }),
  );
  let preferred = 0;
  let failing = false; // logged once per run of failures, not every second
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> = Promise.resolve();

  const send = async (report: HeartbeatReport): Promise<void> => {
    let lastError: unknown;
    for (let attempt = 0; attempt < rpcs.length; attempt++) {
      const index = (preferred + attempt) % rpcs.length;
      try {
        await rpcs[index].call(METADATA_RPC.heartbeat, report);
        preferred = index;
        return;
      } catch (error) {
        lastError = error;
        // The leader's answer, the same from every member: no use asking another.
        const answered =
          isStrataError(error, 'ENOENT') ||
          isStrataError(error, 'EINVAL') ||
          isStrataError(error, 'SERVER_REMOVED');
        if (answered) break;
      }
    }
    throw lastError;
  };

  const beat = async (): Promise<void> => {
    try {
      const disks = (await options.disks()).map((d) => ({
        disk: d.disk,
        online: d.online,
        capacityBytes: d.totalBytes,
        freeBytes: d.freeBytes,
        ...(d.diskId === undefined ? {} : { diskId: d.diskId }),
      }));
      await send({ serverId: options.serverId, intervalMs: options.intervalMs, disks });
      if (failing) options.log.info('heartbeats reach the metadata service again');
      failing = false;
    } catch (error) {
      dataHeartbeatFailures.inc({ code: isStrataError(error) ? error.code : 'INTERNAL' });
      if (isStrataError(error, 'ENOENT')) {
        options.log.warn('the metadata service does not know this data server; registering', {
          serverId: options.serverId,
        });
        await options
          .register()
          .catch((e) => options.log.warn('registration failed', { error: e }));
        return;
      }
      if (!failing && isStrataError(error, 'SERVER_REMOVED'))
        options.log.error('this data server was removed from the cluster; stop it', {
          serverId: options.serverId,
        });
      else if (!failing)
        options.log.warn('heartbeat failed', { serverId: options.serverId, error });
      failing = true;
    }
  };

  // The next beat is timed from the start of this one, and never overlaps it.
  const schedule = (): void => {
    if (stopped) return;
    const startedMs = Date.now();
    running = beat().finally(() => {
      if (stopped) return;
      const waitMs = Math.max(0, options.intervalMs - (Date.now() - startedMs));
      timer = setTimeout(schedule, waitMs);
      timer.unref();
    });
  };
  schedule();

  return {
    async stop() {
      stopped = true;
      clearTimeout(timer);
      await running;
      await Promise.all(rpcs.map((rpc) => rpc.close()));
    },
  };
}
