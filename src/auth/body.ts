// Streams a request body through the checks its headers promised: aws-chunked framing and
// chunk signatures, the declared length, x-amz-content-sha256, Content-MD5 and x-amz-checksum-*.
// Bytes are yielded as they arrive; every end-of-body check runs before the iterator finishes,
// so a consumer that commits only after the last byte never commits a bad body.
import assert from 'node:assert';
import { OffloadedHash } from '../common/hash-offload.ts';
import { AwsChunkedDecoder, decodeAwsChunked } from './aws-chunked.ts';
import { createHasher, decodeDeclaredChecksum, type IncrementalHasher } from './checksums.ts';
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

export async function* verifiedBody(
  raw: AsyncIterable<Buffer>,
  plan: BodyPlan,
): AsyncGenerator<Buffer> {
  const { mode, expectedLengthBytes } = plan;
  const hashers = plan.declared.map((d) => createHasher(d.algorithm));
  // On a hashing thread once the body outgrows a segment (src/common/hash-offload.ts): it was
  // the larger half of what held a gateway's event loop under large PUTs.
  const sha256 = mode.kind === 'sha256' ? new OffloadedHash('sha256') : undefined;
  const trailerHasher = plan.trailer ? createHasher(plan.trailer.algorithm) : undefined;
  const all: IncrementalHasher[] = [...hashers];
  if (trailerHasher) all.push(trailerHasher);
  let decoder: AwsChunkedDecoder | undefined;
  let source = raw;
  if (mode.kind === 'chunked') {
    const trailerNames = new Set(plan.trailer ? [plan.trailer.name] : []);
    decoder = new AwsChunkedDecoder({ signing: mode.signing, trailer: mode.trailer, trailerNames });
    source = decodeAwsChunked(raw, decoder);
  }
  let totalBytes = 0;
  let sha256Hex: string | undefined;
  try {
    for await (const piece of source) {
      assert(Buffer.isBuffer(piece), 'body pieces are Buffers');
      totalBytes += piece.length;
      if (expectedLengthBytes !== undefined && totalBytes > expectedLengthBytes) {
        throw lengthError(expectedLengthBytes, `at least ${totalBytes}`);
      }
      for (const hasher of all) hasher.update(piece);
      await sha256?.update(piece);
      yield piece;
    }
    if (expectedLengthBytes !== undefined && totalBytes !== expectedLengthBytes) {
      throw lengthError(expectedLengthBytes, String(totalBytes));
    }
    sha256Hex = (await sha256?.digest())?.toString('hex');
  } finally {
    sha256?.abort(); // a body left unfinished (nothing after digest)
  }
  if (mode.kind === 'sha256' && sha256Hex !== mode.expectedHex) {
    throw new S3AuthError(
      'XAmzContentSHA256Mismatch',
      400,
      "The provided 'x-amz-content-sha256' header does not match what was computed.",
    );
  }
  plan.declared.forEach((d, i) => {
    if (!hashers[i].digest().equals(d.expected)) throw digestError(d.source, d.algorithm);
  });
  if (plan.trailer !== undefined && trailerHasher !== undefined && decoder !== undefined) {
    verifyTrailerChecksum(plan, decoder, trailerHasher);
  }
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
