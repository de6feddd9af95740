import { httpDate, type RequestContext, sendXml } from '../context.ts';
import { S3Error } from '../errors.ts';
import { renderXml } from '../xml.ts';
import { requestedVersion, versionHeaders } from './object-get.ts';
import { etagOf } from './object-meta.ts';
import { objectReadKey } from './sse-c.ts';

const ATTRIBUTES = ['ETag', 'Checksum', 'ObjectParts', 'StorageClass', 'ObjectSize'];
const PARTS_LIMIT = 1000;

// GetObjectAttributes: the attributes named in x-amz-object-attributes, without the body.
export async function getObjectAttributes(ctx: RequestContext, bucket: string, key: string) {
  const raw = ctx.req.headers['x-amz-object-attributes'];
  const wanted = (Array.isArray(raw) ? raw.join(',') : (raw ?? ''))
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  if (wanted.length === 0 || wanted.some((a) => !ATTRIBUTES.includes(a))) {
    throw new S3Error(
      'InvalidArgument',
      400,
      `x-amz-object-attributes must list some of ${ATTRIBUTES.join(', ')}`,
    );
  }
  const version = await requestedVersion(ctx, bucket, key);
  const inode = version.inode;
  // SSE-C: as AWS, the attributes of an SSE-C object are the key holder's to read.
  objectReadKey(ctx, inode.object?.sseCustomer);
  const body: Record<string, unknown> = {};
  if (wanted.includes('ETag')) body.ETag = etagOf(inode);
  if (wanted.includes('Checksum') && inode.object?.checksums) {
    const checksum = Object.entries(inode.object.checksums).filter(([alg]) => alg !== 'MD5');
    if (checksum.length > 0) {
      body.Checksum = {
        ...Object.fromEntries(checksum.map(([alg, v]) => [`Checksum${alg}`, v])),
        ChecksumType: inode.object.partSizes
          ? (inode.object.checksumType ?? 'COMPOSITE')
          : 'FULL_OBJECT',
      };
    }
  }
  if (wanted.includes('ObjectParts') && inode.object?.partSizes) {
    // Request headers, not query parameters: that is where the API (and so every SDK) puts them.
    const marker = countHeader(ctx, 'x-amz-part-number-marker') ?? 0;
    const maxParts = Math.min(countHeader(ctx, 'x-amz-max-parts') ?? PARTS_LIMIT, PARTS_LIMIT);
    const algorithm = inode.object.checksumAlgorithm;
    const partChecksums = inode.object.partChecksums;
    const parts = inode.object.partSizes
      .map((size, i) => ({
        PartNumber: i + 1,
        Size: size,
        ...(algorithm && partChecksums?.[i] ? { [`Checksum${algorithm}`]: partChecksums[i] } : {}),
      }))
      .filter((p) => p.PartNumber > marker);
    const page = parts.slice(0, maxParts);
    body.ObjectParts = {
      // The API calls it TotalPartsCount; the XML, PartsCount.
      PartsCount: inode.object.partSizes.length,
      PartNumberMarker: marker,
      ...(parts.length > page.length
        ? { NextPartNumberMarker: page[page.length - 1].PartNumber }
        : {}),
      MaxParts: maxParts,
      IsTruncated: parts.length > page.length,
      Part: page,
    };
  }
  if (wanted.includes('StorageClass')) body.StorageClass = inode.object?.storageClass ?? 'STANDARD';
  if (wanted.includes('ObjectSize')) body.ObjectSize = inode.size;
  sendXml(ctx, 200, renderXml('GetObjectAttributesResponse', body), {
    'last-modified': httpDate(inode.mtimeMs),
    ...versionHeaders(version),
  });
}

// A non-negative integer header, or undefined when absent.
function countHeader(ctx: RequestContext, name: string): number | undefined {
  const raw = ctx.req.headers[name];
  if (raw === undefined) return undefined;
  const value = typeof raw === 'string' && /^\d{1,9}$/.test(raw.trim()) ? Number(raw) : Number.NaN;
  if (!Number.isSafeInteger(value)) {
    throw new S3Error('InvalidArgument', 400, `${name} must be a non-negative integer`);
  }
  return value;
}
