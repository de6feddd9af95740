// A putShard's body read straight to where its file's direct write takes it from. A data
// server writes shard files direct (O_DIRECT) from its staging slab (direct-staging.ts); a body
// read into a pool buffer is copied there first (ShardStore's writeDirect), which was the data
// process's largest copy under 16 MiB S3 PUTs (perf: `writeDirect`'s memmove, a quarter of its
// event loop's samples outside the kernel). Here a large request's frame is read into a lease of
// the slab placed so that its body starts SHARD_DATA_AT bytes past an aligned address, with room
// after it for the file's block checksums and padding; ShardStore.put (its `staging`) writes the
// header and checksums around the body and the file from there. Both ways a server reads (into
// chosen buffers, and as a stream: TLS) learn where a large frame's body starts before choosing.
// The frame's fixed fields and header come just before its body, where the file's header goes:
// put overwrites them, after the frame was decoded into the handler's arguments (plain values, no
// views of the frame: a putShard header has no binary field). A frame whose lease does not fit
// now goes to the fallback pool as before, and its body is copied.
import assert from 'node:assert';
import { type BufferPool, shardBuffers } from '../common/buffer-pool.ts';
import type { RequestBodies } from '../rpc/server.ts';
import { alignUp, type DirectStaging, directStaging, type StagingLease } from './direct-staging.ts';
import { SHARD_DATA_AT, shardFileBytes } from './shard-file.ts';

interface Staged {
  lease: StagingLease;
  file: Buffer; // the aligned region the file is written from: its header's place, then the body
}

export class StagedBodies implements RequestBodies {
  private readonly staging: DirectStaging;
  private readonly fallback: BufferPool;
  // By where the frame ends in the slab's memory, which is where its body ends too: release()
  // is given the frame, fileFor() the body.
  private readonly staged = new Map<number, Staged>();
  // Large frames read so far: into the slab, and into the fallback pool (tests).
  private stagedTotal = 0;
  private pooledTotal = 0;

  constructor(staging: DirectStaging, fallback: BufferPool) {
    this.staging = staging;
    this.fallback = fallback;
  }

  acquire(frameBytes: number, bodyAt: number): Buffer {
    const bodyBytes = frameBytes - bodyAt;
    if (bodyBytes > 0) {
      // The file's region starts on an aligned address at or after the frame's start.
      const fileAt = alignUp(Math.max(0, bodyAt - SHARD_DATA_AT));
      const fileBytes = alignUp(shardFileBytes(bodyBytes));
      const lease = this.staging.lease(fileAt + fileBytes);
      if (lease !== undefined) {
        const frameAt = fileAt + SHARD_DATA_AT - bodyAt;
        assert(frameAt >= 0 && frameAt + frameBytes <= fileAt + fileBytes, 'the frame fits');
        const frame = lease.buffer.subarray(frameAt, frameAt + frameBytes);
        const end = frame.byteOffset + frame.length;
        assert(!this.staged.has(end), 'two leases of the slab never overlap');
        this.staged.set(end, { lease, file: lease.buffer.subarray(fileAt, fileAt + fileBytes) });
        this.stagedTotal++;
        return frame;
      }
    }
    this.pooledTotal++;
    return this.fallback.acquire(frameBytes);
  }

  release(frame: Buffer): void {
    const end = frame.byteOffset + frame.length;
    const staged = this.find(frame);
    if (staged === undefined) {
      this.fallback.release(frame);
      return;
    }
    this.staged.delete(end);
    staged.lease.release();
  }

  // The aligned region `body`'s file can be written from in place (ShardStore.put's `staging`),
  // when `body` came in a staged frame; valid until that frame is released.
  fileFor(body: Buffer): Buffer | undefined {
    const staged = this.find(body);
    if (staged === undefined) return undefined;
    assert.equal(body.byteOffset, staged.file.byteOffset + SHARD_DATA_AT, 'the body in place');
    return staged.file;
  }

  // Frames read into the slab and into the pool so far, and slab leases held now.
  get counts(): { staged: number; pooled: number; out: number } {
    return { staged: this.stagedTotal, pooled: this.pooledTotal, out: this.staged.size };
  }

  private find(view: Buffer): Staged | undefined {
    const staged = this.staged.get(view.byteOffset + view.length);
    return staged !== undefined && staged.lease.buffer.buffer === view.buffer ? staged : undefined;
  }
}

// The process's: every data service in it reads putShard bodies through it (their shard stores
// write from directStaging too).
export const putShardBodies = new StagedBodies(directStaging, shardBuffers);
