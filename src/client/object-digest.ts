// End-to-end check of whole-object reads against what the gateway took over the bytes it received:
// the CRC32C recorded beside the ETag (ObjectMeta.bytesCrc32c, single-part objects written since
// it was), else the ETag itself (an MD5 for single-part objects; the MD5 of the parts' MD5s, "-N",
// for multipart ones, whose part sizes are stored).
//
// Why, on top of the shard checks: those prove each shard is the one stored under its name, not
// that what the writer stored was right, nor that decoding, reassembly and the extent map give
// back the bytes the client sent. Both digests were computed by the gateway over the bytes it
// received, before any of that. The MD5 pass (about 590 MiB/s on one core of the development
// machine) was a fifth of the gateway's busy time under 1 MiB GETs and its largest single item
// under 16 MiB ones; the CRC32C (hardware, ~5 GiB/s) catches the same faults (any burst of up to
// 32 bits, else all but 2^-32 of random damage: these are accidents, not an adversary's forgery).
// Neither needs memory beyond the chunk in hand, so a 5 GiB GET stays streaming.
// Ranged reads (and FUSE reads, always ranged) are not checked: they rest on the shard checks.
import assert from 'node:assert';
import { createHash, type Hash } from 'node:crypto';
import { StrataError } from '../common/errors.ts';
import { crc32c } from '../data/crc32c.ts';
import type { ObjectMeta } from '../metadata/types.ts';
import { READ_PIECE_BYTES_MAX } from './file-reader.ts';

const MD5_HEX = /^[0-9a-f]{32}$/;
const MULTIPART_ETAG = /^([0-9a-f]{32})-(\d+)$/;

// What a whole-object read is checked against: the CRC32C taken with the ETag, or the ETag over
// the part sizes it was computed over.
export type DigestPlan =
  | { kind: 'crc32c'; etag: string; crc32c: number; sizeBytes: number }
  | { kind: 'md5'; etag: string; partSizes: number[] };

// The plan for an object, or undefined when its ETag is no digest of the bytes (written or
// truncated through the file system: '' ; a directory marker; unknown).
export function digestPlan(
  object: ObjectMeta | undefined,
  sizeBytes: number,
): DigestPlan | undefined {
  const etag = object?.etag ?? '';
  if (MD5_HEX.test(etag) && object?.partSizes === undefined) {
    const crc = object?.bytesCrc32c;
    if (crc !== undefined && crc.etag === etag)
      return { kind: 'crc32c', etag, crc32c: crc.crc32c, sizeBytes };
    return { kind: 'md5', etag, partSizes: [sizeBytes] };
  }
  const multipart = MULTIPART_ETAG.exec(etag);
  const parts = object?.partSizes;
  if (!multipart || !parts || parts.length !== Number(multipart[2])) return undefined;
  if (parts.reduce((sum, size) => sum + size, 0) !== sizeBytes) return undefined;
  return { kind: 'md5', etag, partSizes: parts };
}

// A running digest of the bytes as they pass, checked once all have.
interface RunningDigest {
  totalBytes: number;
  update(chunk: Buffer): void;
  check(): void; // throws ObjectDigestMismatch
}

function runningCrc(plan: Extract<DigestPlan, { kind: 'crc32c' }>): RunningDigest {
  let crc = 0;
  return {
    totalBytes: plan.sizeBytes,
    update: (chunk) => {
      crc = crc32c(chunk, crc);
    },
    check: () => {
      if (crc !== plan.crc32c)
        throw new ObjectDigestMismatch(
          `the bytes read do not match the CRC32C recorded with the object's ETag ${plan.etag} ` +
            `(${plan.crc32c.toString(16)}; they give ${crc.toString(16)})`,
        );
    },
  };
}

function runningMd5(plan: Extract<DigestPlan, { kind: 'md5' }>): RunningDigest {
  const digests: Buffer[] = [];
  let part = 0;
  let partLeftBytes = plan.partSizes[0];
  let hash: Hash = createHash('md5');
  const closeEmptyParts = () => {
    while (partLeftBytes === 0 && part < plan.partSizes.length) {
      digests.push(hash.digest());
      hash = createHash('md5');
      part++;
      partLeftBytes = plan.partSizes[part] ?? 0;
    }
  };
  closeEmptyParts();
  return {
    totalBytes: plan.partSizes.reduce((sum, size) => sum + size, 0),
    update: (chunk) => {
      for (let at = 0; at < chunk.length; ) {
        const n = Math.min(partLeftBytes, chunk.length - at);
        assert(n > 0, 'the read is no longer than the object');
        hash.update(chunk.subarray(at, at + n));
        at += n;
        partLeftBytes -= n;
        closeEmptyParts();
      }
    },
    check: () => checkMd5(plan, digests),
  };
}

// Passes the chunks of a whole-object read through, digesting them, and checks the digest before
// it yields the chunk that completes the object: a mismatch throws DATA_DAMAGED while the last
// bytes are still held back, so an HTTP response is cut short instead of completed as if all were
// fine. Chunks are held back up to one read piece (READ_PIECE_BYTES_MAX) before they are passed
// on: a read yields a piece in many parts (a shard's range, an encrypted chunk), and an object of
// one piece must still be checked whole before its first byte goes out, so that a mismatch is a
// clean error response rather than a connection cut after the headers.
export async function* verifyWholeObject(
  body: AsyncIterable<Buffer>,
  plan: DigestPlan,
): AsyncIterable<Buffer> {
  const digest = plan.kind === 'crc32c' ? runningCrc(plan) : runningMd5(plan);
  const { totalBytes } = digest;
  let seenBytes = 0;
  const held: Buffer[] = [];
  let heldBytes = 0;
  for await (const chunk of body) {
    assert(seenBytes + chunk.length <= totalBytes, 'the read is no longer than the object');
    digest.update(chunk);
    seenBytes += chunk.length;
    if (seenBytes === totalBytes) digest.check();
    held.push(chunk);
    heldBytes += chunk.length;
    if (heldBytes < READ_PIECE_BYTES_MAX && seenBytes < totalBytes) continue;
    for (const heldChunk of held) yield heldChunk;
    held.length = 0;
    heldBytes = 0;
  }
  if (seenBytes !== totalBytes) {
    throw new StrataError('EIO', `the object read gave ${seenBytes} of ${totalBytes} bytes`);
  }
  if (totalBytes === 0) digest.check();
}

function checkMd5(plan: Extract<DigestPlan, { kind: 'md5' }>, digests: Buffer[]): void {
  assert.equal(digests.length, plan.partSizes.length, 'every part hashed');
  const actual =
    plan.partSizes.length === 1 && MD5_HEX.test(plan.etag)
      ? digests[0].toString('hex')
      : `${createHash('md5').update(Buffer.concat(digests)).digest('hex')}-${digests.length}`;
  if (actual !== plan.etag) {
    throw new ObjectDigestMismatch(
      `the bytes read do not match the object's ETag ${plan.etag} (they give ${actual})`,
    );
  }
}

// DATA_DAMAGED found by this check rather than by a stripe lost beyond parity (for the metric).
export class ObjectDigestMismatch extends StrataError {
  constructor(message: string) {
    super('DATA_DAMAGED', message);
  }
}
