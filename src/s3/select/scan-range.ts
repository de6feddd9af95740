// ScanRange as AWS defines it: a record is processed when its first byte lies in [Start, End]
// (End inclusive), whole even when it runs past End. Records are found by their delimiter, so a
// range needs input whose delimiters never appear inside a record: CSV without quoted record
// delimiters, or JSON LINES, uncompressed.
import assert from 'node:assert';
import { SelectError } from './errors.ts';

export interface ResolvedScanRange {
  start: number;
  end: number; // inclusive
}

// Start alone scans to the end; End alone is the last End bytes (as AWS reads it).
export function resolveScanRange(
  range: { start?: number; end?: number },
  sizeBytes: number,
): ResolvedScanRange | undefined {
  if (sizeBytes === 0) return undefined;
  let { start, end } = range;
  if (start === undefined) {
    assert(end !== undefined, 'a scan range has Start or End');
    start = Math.max(0, sizeBytes - end);
    end = sizeBytes - 1;
  }
  end = Math.min(end ?? sizeBytes - 1, sizeBytes - 1);
  if (start >= sizeBytes)
    throw new SelectError('InvalidScanRange', 'ScanRange Start is past the end of the object.');
  return { start, end };
}

// Where to begin reading for a range: a delimiter's length before Start, so that a record starting
// exactly at Start is recognised by the delimiter that ends just before it.
export function scanReadOffset(range: ResolvedScanRange, delimiter: Buffer): number {
  return Math.max(0, range.start - delimiter.length);
}

// The bytes of the records that start in the range, from object bytes read from scanReadOffset.
export async function* scanRangeBytes(
  source: AsyncIterable<Buffer>,
  range: ResolvedScanRange,
  delimiter: Buffer,
): AsyncGenerator<Buffer> {
  assert(delimiter.length > 0 && delimiter.length <= 8, 'a short record delimiter');
  let position = scanReadOffset(range, delimiter); // absolute offset of the next chunk's first byte
  let carry: Buffer = Buffer.alloc(0); // bytes already seen (and emitted, once begun) kept for matching
  let begun = range.start === 0;
  for await (const chunk of source) {
    const buf = carry.length === 0 ? chunk : Buffer.concat([carry, chunk]);
    const bufStart = position - carry.length;
    position += chunk.length;
    let from = 0; // first byte of buf to emit
    if (!begun) {
      const cut = firstRecordStart(buf, bufStart, range.start, delimiter);
      if (cut === undefined) {
        carry = buf.subarray(Math.max(0, buf.length - delimiter.length + 1));
        continue;
      }
      begun = true;
      from = cut;
      if (bufStart + cut > range.end) return; // no record starts inside the range
    } else {
      from = carry.length; // carried bytes went out with the previous chunk
    }
    const searchFrom = Math.max(0, range.end - delimiter.length + 1 - bufStart);
    const stop = buf.indexOf(delimiter, Math.max(searchFrom, from - delimiter.length + 1));
    if (stop >= 0 && stop + delimiter.length > from) {
      yield buf.subarray(from, stop + delimiter.length);
      return;
    }
    if (from < buf.length) yield buf.subarray(from);
    carry = Buffer.from(buf.subarray(Math.max(0, buf.length - delimiter.length + 1)));
  }
}

// The index in buf of the first record starting at or after Start: just past a delimiter that
// ends at Start - 1 or later.
function firstRecordStart(
  buf: Buffer,
  bufStart: number,
  start: number,
  delimiter: Buffer,
): number | undefined {
  let i = buf.indexOf(delimiter, Math.max(0, start - delimiter.length - bufStart));
  while (i >= 0) {
    if (bufStart + i + delimiter.length >= start) return i + delimiter.length;
    i = buf.indexOf(delimiter, i + 1);
  }
  return undefined;
}
