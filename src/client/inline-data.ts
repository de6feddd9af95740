// Small files inline (docs/architecture/overview.md, "Small files inline"): the POSIX side of it.
// A batch of writes that leaves the file within the cluster's threshold is committed with its
// bytes inline (no stripe, no data server); a file that grows past the threshold has its inline
// bytes moved into stripes first ("spilled"), because the state machine refuses a file over the
// threshold that still holds inline bytes (INLINE_LIMIT). S3 PUTs inline in stripe-writer.ts.
import assert from 'node:assert';
import type { FileExtent, InlineExtent } from '../metadata/types.ts';

export interface PendingBytes {
  offset: number;
  data: Buffer;
}

// Writes applied in order (later ones over earlier ones), as inline extents: one per run of
// covered bytes, so bytes written twice are carried once. Their total is at most the end of the
// furthest write. Copies the bytes (a caller's buffers may be reused once this returns).
export function inlineExtentsOf(writes: readonly PendingBytes[]): InlineExtent[] {
  const end = Math.max(0, ...writes.map((w) => w.offset + w.data.length));
  const image = Buffer.alloc(end);
  const runs: Array<[number, number]> = [];
  for (const w of writes) {
    assert(w.offset >= 0, 'a write at a non-negative offset');
    if (w.data.length === 0) continue;
    w.data.copy(image, w.offset);
    runs.push([w.offset, w.offset + w.data.length]);
  }
  runs.sort((a, b) => a[0] - b[0]);
  const merged: Array<[number, number]> = [];
  for (const [from, to] of runs) {
    const last = merged[merged.length - 1];
    if (last !== undefined && from <= last[1]) last[1] = Math.max(last[1], to);
    else merged.push([from, to]);
  }
  return merged.map(([from, to]) => ({
    fileOffset: from,
    length: to - from,
    inline: new Uint8Array(image.subarray(from, to)),
  }));
}

// The writes that put an inline extent's bytes back (to be written as stripes).
export function writesOfInline(extents: readonly FileExtent[]): PendingBytes[] {
  const out: PendingBytes[] = [];
  for (const e of extents) {
    if (e.inline === undefined) continue;
    assert.equal(e.inline.length, e.length, 'inline bytes fill their extent');
    out.push({ offset: e.fileOffset, data: Buffer.from(e.inline) });
  }
  return out;
}

export function hasInline(extents: readonly FileExtent[]): boolean {
  return extents.some((e) => e.inline !== undefined);
}

// Whether a batch ending at `endBytes`, on a file believed `sizeBytes` long, may be inline.
export function fitsInline(inlineMaxBytes: number, sizeBytes: number, endBytes: number): boolean {
  return inlineMaxBytes > 0 && Math.max(sizeBytes, endBytes) <= inlineMaxBytes;
}
