// Decides, from the request headers alone, how body() must read and verify the payload.
import type { IncomingMessage } from 'node:http';
import {
  type ChecksumAlgorithm,
  checksumHeaderAlgorithms,
  decodeDeclaredChecksum,
} from './checksums.ts';
import { headerValue, queryValue, type RequestTarget } from './request-target.ts';
import { S3AuthError } from './types.ts';
import type { ChunkSigning } from './verify.ts';

export type PayloadMode =
  | { kind: 'unsigned' }
  | { kind: 'sha256'; expectedHex: string }
  | { kind: 'chunked'; signing: ChunkSigning | undefined; trailer: boolean };

export interface DeclaredChecksum {
  algorithm: ChecksumAlgorithm;
  source: string; // header name, for error messages
  expected: Buffer;
}

export interface BodyPlan {
  mode: PayloadMode;
  expectedLengthBytes: number | undefined;
  declared: DeclaredChecksum[];
  trailer: { name: string; algorithm: ChecksumAlgorithm } | undefined;
  checksums: Record<string, string>; // what AuthResult.checksums exposes; trailer added at end
}

// `chunkSigning` is set only for Authorization-header requests: presigned URLs and anonymous
// requests have no seed signature to chain chunk signatures from.
export function payloadMode(
  contentSha256: string | undefined,
  chunkSigning: ChunkSigning | undefined,
): PayloadMode {
  if (contentSha256 === undefined || contentSha256 === 'UNSIGNED-PAYLOAD') {
    return { kind: 'unsigned' };
  }
  if (/^[0-9a-fA-F]{64}$/.test(contentSha256)) {
    return { kind: 'sha256', expectedHex: contentSha256.toLowerCase() };
  }
  if (contentSha256 === 'STREAMING-UNSIGNED-PAYLOAD-TRAILER') {
    return { kind: 'chunked', signing: undefined, trailer: true };
  }
  const signedStreaming = contentSha256.startsWith('STREAMING-AWS4-HMAC-SHA256-PAYLOAD');
  if (signedStreaming && chunkSigning === undefined) {
    throw new S3AuthError(
      'InvalidRequest',
      400,
      `${contentSha256} requires an Authorization header signature to chain from.`,
    );
  }
  if (contentSha256 === 'STREAMING-AWS4-HMAC-SHA256-PAYLOAD') {
    return { kind: 'chunked', signing: chunkSigning, trailer: false };
  }
  if (contentSha256 === 'STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER') {
    return { kind: 'chunked', signing: chunkSigning, trailer: true };
  }
  // Includes the SigV4a STREAMING-AWS4-ECDSA-P256-SHA256-* values, which we do not support.
  throw new S3AuthError(
    'InvalidArgument',
    400,
    'x-amz-content-sha256 must be UNSIGNED-PAYLOAD, STREAMING-UNSIGNED-PAYLOAD-TRAILER, ' +
      'STREAMING-AWS4-HMAC-SHA256-PAYLOAD[-TRAILER], or a valid sha256 value.',
  );
}

function parseLength(value: string | undefined, name: string): number | undefined {
  if (value === undefined) return undefined;
  if (!/^\d{1,15}$/.test(value)) {
    throw new S3AuthError('InvalidArgument', 400, `${name} '${value}' is not a valid length.`);
  }
  return Number(value);
}

function declaredHeaderChecksums(request: IncomingMessage): DeclaredChecksum[] {
  const declared: DeclaredChecksum[] = [];
  for (const [header, algorithm] of checksumHeaderAlgorithms) {
    const value = headerValue(request, header);
    if (value === undefined) continue;
    const expected = decodeDeclaredChecksum(algorithm, value);
    if (expected === undefined) {
      throw new S3AuthError('InvalidRequest', 400, `Value for ${header} header is invalid.`);
    }
    declared.push({ algorithm, source: header, expected });
  }
  if (declared.length > 1) {
    throw new S3AuthError(
      'InvalidRequest',
      400,
      'Expecting a single x-amz-checksum- header. Multiple checksum Types are not allowed.',
    );
  }
  const md5 = headerValue(request, 'content-md5');
  if (md5 !== undefined) {
    const expected = decodeDeclaredChecksum('MD5', md5);
    if (expected === undefined) {
      throw new S3AuthError('InvalidDigest', 400, 'The Content-MD5 you specified was invalid.');
    }
    declared.push({ algorithm: 'MD5', source: 'Content-MD5', expected });
  }
  return declared;
}

function announcedTrailer(request: IncomingMessage, mode: PayloadMode): BodyPlan['trailer'] {
  const value = headerValue(request, 'x-amz-trailer');
  if (value === undefined) return undefined;
  if (mode.kind !== 'chunked' || !mode.trailer) {
    throw new S3AuthError(
      'InvalidRequest',
      400,
      'x-amz-trailer requires x-amz-content-sha256 STREAMING-*-TRAILER.',
    );
  }
  const name = value.trim().toLowerCase();
  const algorithm = checksumHeaderAlgorithms.get(name);
  if (algorithm === undefined) {
    throw new S3AuthError('InvalidRequest', 400, `Unsupported x-amz-trailer '${value}'.`);
  }
  return { name, algorithm };
}

export function planBody(
  request: IncomingMessage,
  target: RequestTarget,
  chunkSigning: ChunkSigning | undefined,
): BodyPlan {
  const mode = payloadMode(headerValue(request, 'x-amz-content-sha256'), chunkSigning);
  const trailer = announcedTrailer(request, mode);
  // On CompleteMultipartUpload the x-amz-checksum-* header is the whole object's checksum, not
  // one of the XML body, so it is left to the gateway.
  const completesUpload =
    request.method === 'POST' && queryValue(target.query, 'uploadId') !== undefined;
  const declared = completesUpload ? [] : declaredHeaderChecksums(request);
  const checksums: Record<string, string> = {};
  for (const d of declared) checksums[d.algorithm] = d.expected.toString('base64');
  const expectedLengthBytes =
    mode.kind === 'chunked'
      ? parseLength(
          headerValue(request, 'x-amz-decoded-content-length'),
          'x-amz-decoded-content-length',
        )
      : parseLength(headerValue(request, 'content-length'), 'Content-Length');
  return { mode, expectedLengthBytes, declared, trailer, checksums };
}
