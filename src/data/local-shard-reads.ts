// Shard reads straight from the files of a data server on this machine (HDFS's short-circuit
// local reads): a mount or gateway beside its data servers reads a shard's blocks itself instead
// of asking the server over loopback RPC, which cost the server about as much CPU as the reader
// spends on the whole read (docs/architecture/overview.md, "Local reads").
//
// The same checks as the server's own reads (readVerified: the header's identity, length and
// version, every block's CRC32C), through the same kept handles (read-handles.ts). A shard file
// is written once and never rewritten, so a handle kept here reads what the server would serve;
// a shard removed since (moved by a repair, collected) reads from its kept handle until the
// handle is idle for `idleMs`, or fails to open, and the caller reads from the server instead.
// Never on this thread (no blocking pread, unlike the server's lone reads): a hung disk must not
// stall the mount's event loop, only the pool thread that reads it.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { BufferPool, Leased } from '../common/buffer-pool.ts';
import { StrataError } from '../common/errors.ts';
import { ReadHandles } from './read-handles.ts';
import type { ShardExpectation } from './shard-file.ts';
import { DISK_ID_FILE, readVerified, shardPathIn } from './shard-store.ts';

// Handles kept by a reader outside the servers: enough for every data shard of a 1 GiB file
// (4+2, 1 MiB shards), a few of the process's descriptors.
export const LOCAL_READ_HANDLES_MAX = 1_024;
// A kept handle unused this long is closed, so a removed shard's space is not held for long.
export const LOCAL_READ_HANDLE_IDLE_MS = 10_000;
const STRIPE_ID = /^[0-9a-f]{32}$/;

// The identity written in a disk directory by its data server (shard-store.ts, diskIdentity), or
// undefined when there is none this process can read: not here, not ours to read, or not a disk.
export async function diskIdentityAt(diskPath: string): Promise<string | undefined> {
  try {
    return (await readFile(join(diskPath, DISK_ID_FILE), 'utf8')).trim();
  } catch {
    return undefined;
  }
}

export interface LocalShardRead {
  diskPath: string;
  stripeId: string;
  shardIndex: number;
  offset: number;
  length: number;
  expect: Pick<ShardExpectation, 'dataLength' | 'minVersion'>;
  blockChecks: boolean;
}

export class LocalShardReads {
  private readonly handles: ReadHandles;
  private readonly sweep: NodeJS.Timeout;

  constructor(maxHandles = LOCAL_READ_HANDLES_MAX, idleMs = LOCAL_READ_HANDLE_IDLE_MS) {
    this.handles = new ReadHandles(maxHandles);
    this.sweep = setInterval(() => this.handles.dropIdleSince(Date.now() - idleMs), idleMs);
    this.sweep.unref();
  }

  // The range's bytes, verified as the server verifies them; into one of `pool`'s buffers when
  // given (the caller releases it). Rejects (ENOENT, EIO, SHARD_CORRUPT...) where the server
  // would have to be asked.
  read(read: LocalShardRead, pool: BufferPool | undefined): Promise<Leased> {
    const { stripeId, shardIndex } = read;
    // The address comes from a stripe record: checked before it names a path.
    if (!STRIPE_ID.test(stripeId) || !Number.isInteger(shardIndex) || shardIndex < 0)
      return Promise.reject(new StrataError('EINVAL', `no shard ${stripeId}.${shardIndex}`));
    const path = shardPathIn(read.diskPath, stripeId, shardIndex);
    const expected = { stripeId, shardIndex, ...read.expect };
    return this.handles.use(path, (file, notes) =>
      readVerified(file, path, expected, {
        offset: read.offset,
        length: read.length,
        pool,
        blockChecks: read.blockChecks,
        verify: undefined,
        notes,
        alone: () => false,
      }),
    );
  }

  get openHandles(): number {
    return this.handles.size;
  }

  async close(): Promise<void> {
    clearInterval(this.sweep);
    await this.handles.close();
  }
}

// What a reader outside a disk's server knows of that disk: whether it is here (its directory
// holds the identity the cluster records), when that was last looked at, and its reads in the
// thread pool. A gateway's or mount's local reads (src/client/data-pool.ts) and a data server's
// reads of its peers' disks (src/cluster/peer-disk-reads.ts) keep one each.
export interface LocalDiskState {
  here: boolean;
  checkedAtMs: number;
  inFlight: number; // returned or not
  stalled: boolean; // a read outlived its time and has not returned yet
}

// A shard's own trouble (gone, a bad block): says nothing of its disk.
const SHARD_TROUBLE = new Set(['ENOENT', 'SHARD_MISSING', 'SHARD_CORRUPT']);

// Runs `start` (a read of that disk) within `timeoutMs`. The read counts as in flight until it
// returns, even past its time, and a late answer's buffer is given back. A read past its time
// stalls the disk (none more until every read on it has returned); any error that is not the
// shard's own (no permission, EIO, the time) marks it not here until it is looked at again.
// Rejects with the read's error or EIO at the time; the caller then asks the disk's server.
export async function boundedLocalRead(
  disk: LocalDiskState,
  start: () => Promise<Leased>,
  timeoutMs: number,
): Promise<Leased> {
  disk.inFlight++;
  const started = start();
  let abandoned = false;
  const returned = () => {
    disk.inFlight--;
    if (disk.inFlight === 0) disk.stalled = false;
  };
  started.then((late) => {
    returned();
    if (abandoned) late.release(); // nobody reads it
  }, returned);
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      abandoned = true;
      disk.stalled = true;
      reject(new StrataError('EIO', `local read not done in ${timeoutMs} ms`));
    }, timeoutMs);
  });
  try {
    return await Promise.race([started, timeout]);
  } catch (error) {
    if (!SHARD_TROUBLE.has(String((error as { code?: unknown }).code))) {
      disk.here = false;
      disk.checkedAtMs = Date.now();
    }
    throw error;
  } finally {
    clearTimeout(timer);
  }
}
