// Copies that cannot share the source's stripes: a copy whose encryption (asked for, or the
// destination bucket's default) the source's stripes do not have: SSE-S3 of plaintext, SSE-KMS
// under another key or context, no encryption of stripes under a KMS key, and a copy into or out
// of SSE-C unless both sides use one customer key. Sharing would give the copy stripes it cannot
// claim or cannot read, which the state machine refuses (src/metadata/object-encryption.ts). The
// source's bytes are read (an SSE-C source opened with its key) and written again as the copy
// must be stored, and the copy commits those stripes instead (copyObject's `rewritten`), checked
// by the state machine against the source as it was read. Bounded by AWS's own limit for
// CopyObject. A source kept inline (plaintext in the metadata) is rewritten into sealed stripes
// for any encrypted copy; a rewrite is always striped, never inline.
import assert from 'node:assert';
import { StrataError } from '../common/errors.ts';
import type { Slots } from '../common/slots.ts';
import type { Extent, Inode } from '../metadata/types.ts';
import type { Logger } from '../observability/logger.ts';
import type { DataPool } from './data-pool.ts';
import { readFileRange } from './file-reader.ts';
import type { MetadataClient } from './metadata-client.ts';
import type { SseTarget } from './object-sse.ts';
import type { ErasureParams } from './stripe-io.ts';
import { writeStream } from './stripe-writer.ts';

// AWS copies at most 5 GiB in one CopyObject (larger: UploadPartCopy); a rewrite holds one
// request for as long as the bytes take, so the same bound applies.
export const COPY_REWRITE_BYTES_MAX = 5 * 1024 ** 3;
// Extents are checked a window at a time, as readers fetch them (file-reader.ts).
const SEALED_CHECK_WINDOW_BYTES = 256 * 1024 * 1024;

export interface CopyRewriteDeps {
  metadata: MetadataClient;
  pool: DataPool;
  erasure: ErasureParams;
  slots: Slots;
  log: Logger;
}

export interface RewrittenSource {
  srcIno: number;
  srcCtimeMs: number;
  size: number;
  extents: Extent[];
}

export async function fileMatches(
  metadata: MetadataClient,
  inode: Inode,
  target: SseTarget,
): Promise<boolean> {
  for (let at = 0; at < inode.size; at += SEALED_CHECK_WINDOW_BYTES) {
    const length = Math.min(SEALED_CHECK_WINDOW_BYTES, inode.size - at);
    const extents = await metadata.read('extents', inode.ino, at, length);
    // An inline extent has no stripe: plaintext in the metadata, which only a plain copy shares.
    if (!extents.every((extent) => target.matches(extent.stripe?.encryption))) return false;
  }
  return true;
}

// The source's bytes written again, sealed as `target` says; undefined when its stripes already
// are (a metadata-only copy).
export async function rewriteSealed(
  deps: CopyRewriteDeps,
  source: Inode,
  target: SseTarget,
): Promise<RewrittenSource | undefined> {
  if (await fileMatches(deps.metadata, source, target)) return undefined;
  return rewriteCopy(deps, source, { target });
}

// How a rewriting copy reads and writes: the source's SSE-C key (if it has one), and how the
// copy is stored (plain, SSE-S3, SSE-KMS or its own SSE-C key: object-sse.ts).
export interface RewriteKeys {
  sourceKey?: Buffer;
  target: SseTarget;
}

// The source's bytes read (opened with its key) and written again as the copy must be stored.
export async function rewriteCopy(
  deps: CopyRewriteDeps,
  source: Inode,
  keys: RewriteKeys,
): Promise<RewrittenSource> {
  if (source.size > COPY_REWRITE_BYTES_MAX) {
    throw new StrataError(
      'EINVAL',
      'The specified copy source is larger than the maximum allowable size for a copy source: ' +
        `${COPY_REWRITE_BYTES_MAX} (its bytes must be encrypted anew, which a copy does by ` +
        'rewriting them)',
    );
  }
  const { metadata, pool, log } = deps;
  const body = readFileRange(metadata, pool, source.ino, 0, source.size, log, keys.sourceKey);
  const written = await writeStream(deps.pool, deps.erasure, body, {
    maxSizeBytes: COPY_REWRITE_BYTES_MAX,
    log: deps.log,
    slots: deps.slots,
    seal: keys.target.seal,
    kms: keys.target.kms,
    customer: keys.target.customer,
  });
  assert.equal(written.sizeBytes, source.size, 'the rewrite read the whole source');
  return {
    srcIno: source.ino,
    srcCtimeMs: source.ctimeMs,
    size: written.sizeBytes,
    extents: written.extents,
  };
}
