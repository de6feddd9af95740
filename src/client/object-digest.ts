// End-to-end check of whole-object reads against the object's ETag (an MD5 for single-part
// objects; the MD5 of the parts' MD5s, "-N", for multipart ones, whose part sizes are stored).
//
// Why, on top of the shard checks: those prove each shard is the one stored under its name, not
// that what the writer stored was right, nor that decoding, reassembly and the extent map give
// back the bytes the client sent. The MD5 was computed by the gateway over the bytes it received,
// before any of that. It costs one MD5 pass over the bytes (about 590 MiB/s on one core of the
// development machine) and no memory beyond the chunk in hand, so a 5 GiB GET stays streaming.
// Ranged reads (and FUSE reads, always ranged) are not checked: they rest on the shard checks.
import assert from 'node:assert';
import { createHash, type Hash } from 'node:crypto';
import { StrataError } from '../common/errors.ts';
import type { ObjectMeta } from '../metadata/types.ts';
import { READ_PIECE_BYTES_MAX } from './file-reader.ts';

const MD5_HEX = /^[0-9a-f]{32}$/;
const MULTIPART_ETAG = /^([0-9a-f]{32})-(\d+)$/;

// The part sizes an object's ETag was computed over, or undefined when its ETag is no digest of
// the bytes (written or truncated through the file system: '' ; a directory marker; unknown).
export function digestPlan(
  object: ObjectMeta | undefined,
  sizeBytes: number,
): { etag: string; partSizes: number[] } | undefined {
  const etag = object?.etag ?? '';
  if (MD5_HEX.test(etag) && object?.partSizes === undefined)
    return { etag, partSizes: [sizeBytes] };
  const multipart = MULTIPART_ETAG.exec(etag);
  const parts = object?.partSizes;
  if (!multipart || !parts || parts.length !== Number(multipart[2])) return undefined;
  if (parts.reduce((sum, size) => sum + size, 0) !== sizeBytes) return undefined;
  return { etag, partSizes: parts };
}

// Passes the chunks of a whole-object read through, hashing them, and checks the digest before it
// yields the chunk that completes the object: a mismatch throws DATA_DAMAGED while the last bytes
// are still held back, so an HTTP response is cut short instead of completed as if all were fine.
// Chunks are held back up to one read piece (READ_PIECE_BYTES_MAX) before they are passed on: a
// read yields a piece in many parts (a shard's range, an encrypted chunk), and an object of one
// piece must still be checked whole before its first byte goes out, so that a mismatch is a
// clean error response rather than a connection cut after the headers.
export async function* verifyWholeObject(
  body: AsyncIterable<Buffer>,
  plan: { etag: string; partSizes: number[] },
): AsyncIterable<Buffer> {
  const totalBytes = plan.partSizes.reduce((sum, size) => sum + size, 0);
  const digests: Buffer[] = [];
  let part = 0;
  let partLeftBytes = plan.partSizes[0];
  let hash: Hash = createHash('md5');
  let seenBytes = 0;
  const held: Buffer[] = [];
  let heldBytes = 0;
  const closeEmptyParts = () => {
    while (partLeftBytes === 0 && part < plan.partSizes.length) {
      digests.push(hash.digest());
      hash = createHash('md5');
      part++;
      partLeftBytes = plan.partSizes[part] ?? 0;
    }
  };
  closeEmptyParts();
  for await (const chunk of body) {
    for (let at = 0; at < chunk.length; ) {
      const n = Math.min(partLeftBytes, chunk.length - at);
      assert(n > 0, 'the read is no longer than the object');
      hash.update(chunk.subarray(at, at + n));
      at += n;
      partLeftBytes -= n;
      closeEmptyParts();
    }
    seenBytes += chunk.length;
    if (seenBytes === totalBytes) check(plan, digests);
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
  if (totalBytes === 0) check(plan, digests);
}

function check(plan: { etag: string; partSizes: number[] }, digests: Buffer[]): void {
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
