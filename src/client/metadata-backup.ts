// Reads a fresh metadata backup from the leader (src/metadata/backup-handlers.ts), chunk by chunk:
// neither side ever holds more than CHUNKS_IN_FLIGHT chunks of it. The chunks of one backup come
// from the member that took it, so this talks to the leader directly instead of through
// MetadataClient's retries across members; a leader change in the middle fails the backup (run
// it again).
import { StrataError } from '../common/errors.ts';
import type { BackupInfo } from '../metadata/replication/backup-file.ts';
import { METADATA_RPC } from '../metadata/types.ts';
import { RpcClient } from '../rpc/index.ts';
import { MetadataClient } from './metadata-client.ts';

const CHUNK_BYTES = 4 * 1024 * 1024; // the member's BACKUP_CHUNK_BYTES_MAX
// Two reads in flight: the next chunk crosses the network while this one is written.
const CHUNKS_IN_FLIGHT = 2;
// Taking the copy reads the whole state once (about 100-200 MB/s), and checksums it.
const OPEN_TIMEOUT_MS = 10 * 60_000;
const READ_TIMEOUT_MS = 60_000;

export interface BackupSink {
  // The backup is taken: its description, before any byte.
  start(info: BackupInfo): Promise<void>;
  // The state's bytes, in order.
  write(chunk: Buffer): Promise<void>;
}

export async function readMetadataBackup(addrs: string[], sink: BackupSink): Promise<BackupInfo> {
  const leaderAddr = await findLeader(addrs);
  const rpc = new RpcClient(leaderAddr, { defaultTimeoutMs: READ_TIMEOUT_MS });
  let id: string | undefined;
  try {
    const opened = await rpc.call<BackupInfo & { id: string }>(
      METADATA_RPC.backupOpen,
      {},
      undefined,
      { timeoutMs: OPEN_TIMEOUT_MS },
    );
    const { id: openedId, ...info } = opened.header;
    id = openedId;
    await sink.start(info);
    const read = (offsetBytes: number) =>
      rpc.call(METADATA_RPC.backupRead, {
        id: openedId,
        offsetBytes,
        lengthBytes: Math.min(CHUNK_BYTES, info.sizeBytes - offsetBytes),
      });
    const inFlight: Array<Promise<{ body?: Buffer }>> = [];
    let requested = 0;
    let received = 0;
    while (received < info.sizeBytes) {
      while (inFlight.length < CHUNKS_IN_FLIGHT && requested < info.sizeBytes) {
        const pending = read(requested);
        pending.catch(() => undefined); // awaited in order below; never unhandled meanwhile
        inFlight.push(pending);
        requested += Math.min(CHUNK_BYTES, info.sizeBytes - requested);
      }
      const reply = await (inFlight.shift() as Promise<{ body?: Buffer }>);
      const body = reply.body;
      if (body === undefined || body.byteLength === 0)
        throw new StrataError('EIO', `the leader sent no bytes at ${received}`);
      await sink.write(body);
      received += body.byteLength;
    }
    return info;
  } finally {
    // The member removes its copy now rather than after its idle time.
    if (id !== undefined) await rpc.call(METADATA_RPC.backupClose, { id }).catch(() => undefined);
    await rpc.close();
  }
}

// An election takes 1-2 s (a cluster just started, or a leader lost): waited for this long.
const LEADER_WAIT_MS = 10_000;
const LEADER_POLL_MS = 200;

async function findLeader(addrs: string[]): Promise<string> {
  const metadata = new MetadataClient(addrs);
  const deadline = Date.now() + LEADER_WAIT_MS;
  try {
    for (;;) {
      const { leaderId, members } = await metadata.members();
      const leader = members.find((m) => m.nodeId === leaderId);
      if (leaderId !== 0 && leader?.addr) return leader.addr;
      if (Date.now() > deadline)
        throw new StrataError(
          'RPC_UNAVAILABLE',
          `the metadata cluster has had no leader for ${LEADER_WAIT_MS / 1000} s`,
        );
      await new Promise((resolve) => setTimeout(resolve, LEADER_POLL_MS));
    }
  } finally {
    await metadata.close();
  }
}
