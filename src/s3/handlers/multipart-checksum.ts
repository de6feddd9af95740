// Checksums of multipart uploads (AWS "Checking object integrity", multipart section). An upload
// created with x-amz-checksum-algorithm gets each part's checksum computed while it streams in;
// completion checks the parts the client names against them and stores the object's checksum:
// COMPOSITE = checksum of the concatenated part checksums, suffixed "-N"; FULL_OBJECT = the CRC of
// the whole object, combined from the parts' CRCs without reading the bytes again.
import { type ChecksumAlgorithm, createHasher } from '../../auth/checksums.ts';
import { combineCrc, isCombinable } from '../../auth/crc-combine.ts';
import type { ObjectMeta, PartInfo } from '../../metadata/types.ts';
import type { RequestContext } from '../context.ts';
import { S3Error } from '../errors.ts';

const ALGORITHMS: readonly ChecksumAlgorithm[] = ['CRC32', 'CRC32C', 'CRC64NVME', 'SHA1', 'SHA256'];

export interface UploadChecksum {
  checksumAlgorithm: ChecksumAlgorithm;
  checksumType: 'COMPOSITE' | 'FULL_OBJECT';
}

// x-amz-checksum-algorithm and x-amz-checksum-type of CreateMultipartUpload.
export function uploadChecksumFrom(ctx: RequestContext): UploadChecksum | undefined {
  const rawAlgorithm = ctx.req.headers['x-amz-checksum-algorithm'];
  const rawType = ctx.req.headers['x-amz-checksum-type'];
  if (rawAlgorithm === undefined) {
    if (rawType !== undefined)
      throw new S3Error(
        'InvalidRequest',
        400,
        'x-amz-checksum-type requires x-amz-checksum-algorithm',
      );
    return undefined;
  }
  const algorithm = String(rawAlgorithm).toUpperCase() as ChecksumAlgorithm;
  if (!ALGORITHMS.includes(algorithm))
    throw new S3Error('InvalidRequest', 400, `Checksum algorithm ${rawAlgorithm} is not supported`);
  const type = rawType === undefined ? undefined : String(rawType).toUpperCase();
  if (type !== undefined && type !== 'COMPOSITE' && type !== 'FULL_OBJECT')
    throw new S3Error('InvalidRequest', 400, `Checksum type ${rawType} is not supported`);
  // AWS: CRC64NVME is full-object only; the SHAs are composite only; CRC32(C) default to composite.
  const checksumType = type ?? (algorithm === 'CRC64NVME' ? 'FULL_OBJECT' : 'COMPOSITE');
  if (checksumType === 'FULL_OBJECT' && !isCombinable(algorithm))
    throw new S3Error(
      'InvalidRequest',
      400,
      `The ${algorithm} algorithm does not support FULL_OBJECT checksums`,
    );
  if (checksumType === 'COMPOSITE' && algorithm === 'CRC64NVME')
    throw new S3Error(
      'InvalidRequest',
      400,
      'The CRC64NVME algorithm supports only FULL_OBJECT checksums',
    );
  return { checksumAlgorithm: algorithm, checksumType };
}

// Passes the body through, hashing it; value() is the base64 checksum once the body has ended.
export function checksumTap(
  algorithm: ChecksumAlgorithm,
  body: AsyncIterable<Buffer>,
): { body: AsyncIterable<Buffer>; value: () => string | undefined } {
  const hasher = createHasher(algorithm);
  let result: string | undefined;
  async function* tapped() {
    for await (const chunk of body) {
      hasher.update(chunk);
      yield chunk;
    }
    result = hasher.digest().toString('base64');
  }
  return { body: tapped(), value: () => result };
}

// Verifies the parts' declared checksums and forms the object's. Parts come in completion order.
export function completionChecksums(
  upload: Omit<ObjectMeta, 'etag'>,
  parts: Array<{ partNumber: number; declared: Record<string, string> }>,
  stored: Map<number, PartInfo>,
): { checksums: Record<string, string>; partChecksums: string[] } | undefined {
  const algorithm = upload.checksumAlgorithm as ChecksumAlgorithm | undefined;
  if (algorithm === undefined) return undefined;
  const partChecksums: string[] = [];
  for (const part of parts) {
    const info = stored.get(part.partNumber);
    // A missing part is reported by the state machine (InvalidPart), with its ETag check.
    if (info === undefined) return undefined;
    const declared = part.declared[algorithm];
    if (info.checksum === undefined)
      throw new S3Error('InvalidPart', 400, `Part ${part.partNumber} has no ${algorithm} checksum`);
    if (declared !== undefined && declared !== info.checksum)
      throw new S3Error(
        'InvalidPart',
        400,
        `The ${algorithm} checksum of part ${part.partNumber} does not match`,
      );
    partChecksums.push(info.checksum);
  }
  const digests = partChecksums.map((c) => Buffer.from(c, 'base64'));
  let value: string;
  if (upload.checksumType === 'FULL_OBJECT' && isCombinable(algorithm)) {
    let combined: Buffer = digests[0];
    for (let i = 1; i < digests.length; i++) {
      const size = stored.get(parts[i].partNumber)?.size ?? 0;
      combined = combineCrc(algorithm, combined, digests[i], size);
    }
    value = combined.toString('base64');
  } else {
    const hasher = createHasher(algorithm);
    for (const digest of digests) hasher.update(digest);
    value = `${hasher.digest().toString('base64')}-${digests.length}`;
  }
  return { checksums: { [algorithm]: value }, partChecksums };
}
