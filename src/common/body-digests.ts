// A body's MD5 (the ETag) and CRC32C (the object record's check), computed by the code that
// streams the body rather than by the writer that stores it. A gateway's PUT body already goes
// through a hashing session on its way in (the payload's SHA-256 and declared checksums,
// src/auth/body.ts); adding these two to that session copies its bytes into the hashing segments
// once instead of twice, and halves the segments a body holds (with none free a body is hashed
// on the event loop).
//
// The producer announces it before the first byte (the writer then hashes nothing itself) and
// sets the digests after its last byte, before its iteration ends; so a consumer whose iteration
// ended normally reads them, and one whose iteration failed never does.
import assert from 'node:assert';
import { type HashAlgorithm, OffloadedHash } from './hash-offload.ts';

export const BODY_DIGEST_ALGORITHMS: readonly HashAlgorithm[] = ['md5', 'crc32c'];

export class BodyDigests {
  private digests: Buffer[] | undefined;

  // By the producer, once, after hashing its last byte: the digests of BODY_DIGEST_ALGORITHMS, in
  // that order.
  set(digests: Buffer[]): void {
    assert(this.digests === undefined, 'body digests are set once');
    assert(digests.length === BODY_DIGEST_ALGORITHMS.length, 'a digest per algorithm');
    this.digests = digests;
  }

  // By the consumer, after the body's iteration ended normally.
  get(): { md5Hex: string; crc32c: number } {
    assert(this.digests !== undefined, 'the body was hashed to its end before it ended');
    const [md5, crc32c] = this.digests;
    return { md5Hex: md5.toString('hex'), crc32c: crc32c.readUInt32BE(0) };
  }
}

// `raw` as it is, run through the digests' hashes on the way (for a body no check reads).
export async function* digestedBody(
  raw: AsyncIterable<Buffer>,
  digests: BodyDigests,
): AsyncGenerator<Buffer> {
  const hash = new OffloadedHash([...BODY_DIGEST_ALGORITHMS]);
  try {
    for await (const piece of raw) {
      await hash.update(piece);
      yield piece;
    }
    digests.set(await hash.digest());
  } finally {
    hash.abort(); // a body left unfinished (nothing after digest)
  }
}
