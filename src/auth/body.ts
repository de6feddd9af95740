// Streams a request body through the checks its headers promised: aws-chunked framing and
// chunk signatures, the declared length, x-amz-content-sha256, Content-MD5 and x-amz-checksum-*.
// Bytes are yielded as they arrive; every end-of-body check runs before the iterator finishes,
// so a consumer that commits only after the last byte never commits a bad body.
import assert from 'node:assert';
import { BODY_DIGEST_ALGORITHMS, type BodyDigests } from '../common/body-digests.ts';
import { type HashAlgorithm, OffloadedHash } from '../common/hash-offload.ts';
import { AwsChunkedDecoder, decodeAwsChunked } from './aws-chunked.ts';
import {
  type ChecksumAlgorithm,
  createHasher,
  decodeDeclaredChecksum,
  type IncrementalHasher,
} from './checksums.ts';
import type { BodyPlan } from './payload-plan.ts';
import { S3AuthError } from './types.ts';

function lengthError(expected: number, actual: string): S3AuthError {
  return new S3AuthError(
    'IncompleteBody',
    400,
    `You did not provide the number of bytes specified: expected ${expected}, got ${actual}.`,
  );
}

function digestError(source: string, algorithm: string): S3AuthError {
  if (source === 'Content-MD5') {
    return new S3AuthError(
      'BadDigest',
      400,
      'The Content-MD5 you specified did not match what we received.',
    );
  }
  return new S3AuthError(
    'BadDigest',
    400,
    `The ${algorithm} you specified did not match the calculated checksum.`,
  );
}

// The declared checksums a hashing thread runs (src/common/running-hash.ts); CRC64NVME stays on
// this thread.
const ON_HASHING_THREAD: Partial<Record<ChecksumAlgorithm, HashAlgorithm>> = {
  CRC32: 'crc32',
  CRC32C: 'crc32c',
  SHA1: 'sha1',
  SHA256: 'sha256',
  MD5: 'md5',
};

// `digests`, when given, are run in the same session and set once the body has ended and passed
// every check (src/common/body-digests.ts).
export async function* verifiedBody(
  raw: AsyncIterable<Buffer>,
  plan: BodyPlan,
  digests?: BodyDigests,
): AsyncGenerator<Buffer> {
  const { mode, expectedLengthBytes } = plan;
  // On a hashing thread once the body outgrows a segment (src/common/hash-offload.ts), in one
  // session: the payload's SHA-256 and the declared checksums it runs. They held a gateway's
  // event loop under large PUTs. The session's digests come in this order: the payload's
  // SHA-256 first when it is signed, then each declared checksum it runs, then `digests`'.
  const threaded = plan.declared.map((d) => ON_HASHING_THREAD[d.algorithm]);
  const sessionAlgorithms: HashAlgorithm[] = [
    ...(mode.kind === 'sha256' ? (['sha256'] as const) : []),
    ...threaded.filter((a) => a !== undefined),
    ...(digests !== undefined ? BODY_DIGEST_ALGORITHMS : []),
  ];
  const session = sessionAlgorithms.length > 0 ? new OffloadedHash(sessionAlgorithms) : undefined;
  const hashers = plan.declared.map((d, i) =>
    threaded[i] === undefined ? createHasher(d.algorithm) : undefined,
  );
  const trailerHasher = plan.trailer ? createHasher(plan.trailer.algorithm) : undefined;
  const all: IncrementalHasher[] = hashers.filter((h) => h !== undefined);
  if (trailerHasher) all.push(trailerHasher);
  let decoder: AwsChunkedDecoder | undefined;
  let source = raw;
  if (mode.kind === 'chunked') {
    const trailerNames = new Set(plan.trailer ? [plan.trailer.name] : []);
    decoder = new AwsChunkedDecoder({ signing: mode.signing, trailer: mode.trailer, trailerNames });
    source = decodeAwsChunked(raw, decoder);
  }
  let totalBytes = 0;
  let computed: Buffer[] = [];
  try {
    for await (const piece of source) {
      assert(Buffer.isBuffer(piece), 'body pieces are Buffers');
      totalBytes += piece.length;
      if (expectedLengthBytes !== undefined && totalBytes > expectedLengthBytes) {
        throw lengthError(expectedLengthBytes, `at least ${totalBytes}`);
      }
      for (const hasher of all) hasher.update(piece);
      await session?.update(piece);
      yield piece;
    }
    if (expectedLengthBytes !== undefined && totalBytes !== expectedLengthBytes) {
      throw lengthError(expectedLengthBytes, String(totalBytes));
    }
    computed = (await session?.digest()) ?? [];
  } finally {
    session?.abort(); // a body left unfinished (nothing after digest)
  }
  const bodyDigests = digests === undefined ? [] : computed.splice(-BODY_DIGEST_ALGORITHMS.length);
  if (mode.kind === 'sha256' && computed.shift()?.toString('hex') !== mode.expectedHex) {
    throw new S3AuthError(
      'XAmzContentSHA256Mismatch',
      400,
      "The provided 'x-amz-content-sha256' header does not match what was computed.",
    );
  }
  plan.declared.forEach((d, i) => {
    const digest = hashers[i]?.digest() ?? computed.shift();
    assert(digest !== undefined, 'every declared checksum was computed');
    if (!digest.equals(d.expected)) throw digestError(d.source, d.algorithm);
  });
  if (plan.trailer !== undefined && trailerHasher !== undefined && decoder !== undefined) {
    verifyTrailerChecksum(plan, decoder, trailerHasher);
  }
  digests?.set(bodyDigests);
}

function verifyTrailerChecksum(
  plan: BodyPlan,
  decoder: AwsChunkedDecoder,
  hasher: IncrementalHasher,
): void {
  assert(plan.trailer !== undefined);
  const { name, algorithm } = plan.trailer;
  const value = decoder.trailers.get(name);
  if (value === undefined) {
    throw new S3AuthError(
      'MalformedTrailerError',
      400,
      `The trailing header ${name} was announced in x-amz-trailer but not sent.`,
    );
  }
  const expected = decodeDeclaredChecksum(algorithm, value);
  if (expected === undefined) {
    throw new S3AuthError('InvalidRequest', 400, `Value for ${name} trailing header is invalid.`);
  }
  if (!hasher.digest().equals(expected)) throw digestError(name, algorithm);
  plan.checksums[algorithm] = value;
}
