// One SelectObjectContent run: object bytes in, event stream messages out. Bytes are counted as
// they are read (BytesScanned), after decompression (BytesProcessed) and as records go out
// (BytesReturned); Records payloads are cut at RECORDS_PAYLOAD_BYTES_MAX, so memory stays bounded
// whatever the object's size. Reading stops as soon as LIMIT is reached.
import assert from 'node:assert';
import { Readable } from 'node:stream';
import { createGunzip } from 'node:zlib';
import unbzip2 from 'unbzip2-stream';
import { s3SelectBytes } from '../../observability/metrics.ts';
import type { Query } from './ast.ts';
import { SelectError } from './errors.ts';
import {
  type ByteCounts,
  continuationMessage,
  endMessage,
  progressMessage,
  recordsMessage,
  statsMessage,
} from './event-stream.ts';
import { SelectExecution } from './execute.ts';
import { csvRecords, jsonDocument, jsonLines } from './input.ts';
import { CsvRowWriter, JsonRowWriter, type RowWriter } from './output.ts';
import type { CsvHeader, InputRecord } from './records.ts';
import type { SelectRequest } from './request.ts';

// One Records message carries at most this much: clients buffer a message whole.
export const RECORDS_PAYLOAD_BYTES_MAX = 64 * 1024;
// With RequestProgress, a Progress message every this many bytes scanned.
const PROGRESS_INTERVAL_BYTES = 16 * 1024 * 1024;
// A scan that returns nothing for this many bytes sends a Cont message, so that the client and
// any proxy between see the connection alive.
const CONTINUATION_INTERVAL_BYTES = 8 * 1024 * 1024;

export interface SelectInput {
  // The object's bytes: from the scan range's read offset when there is one, to the end.
  body: AsyncIterable<Buffer>;
  // A CSV header read from the object's start, when a scan range begins after it.
  header?: CsvHeader;
  // False when a scan range begins past the object's start: its first record is no header.
  startsAtObjectStart: boolean;
  nowMs: number;
}

async function* counted(
  source: AsyncIterable<Buffer>,
  counts: ByteCounts,
  field: 'scannedBytes' | 'processedBytes',
): AsyncGenerator<Buffer> {
  for await (const chunk of source) {
    counts[field] += chunk.length;
    yield chunk;
  }
}

async function* gunzip(source: AsyncIterable<Buffer>): AsyncGenerator<Buffer> {
  const inflate = createGunzip();
  const feeding = (async () => {
    try {
      for await (const chunk of source) {
        if (inflate.destroyed) return; // the reader stopped (LIMIT): read no further
        if (!inflate.write(chunk)) await drainOf(inflate);
      }
      inflate.end();
    } catch (error) {
      inflate.destroy(error as Error);
    }
  })();
  try {
    for await (const chunk of inflate) yield chunk as Buffer;
  } catch (error) {
    if ((error as { code?: string }).code?.startsWith('Z_'))
      throw new SelectError(
        'InvalidCompressionFormat',
        'The GZIP input could not be decompressed.',
      );
    throw error;
  } finally {
    inflate.destroy();
    await feeding;
  }
}

// BZIP2 through unbzip2-stream (pure JavaScript, no install script; Node has no bzip2). Its
// decoder is a classic stream: written here with backpressure (paused while the reader is
// behind, its write answers false), read through a Readable fed by its 'data' events (not
// Readable.wrap, which destroys the reader at the decoder's 'close', before what is buffered has
// been read). Memory stays within a few of bzip2's blocks (at most 900 kB each). Only the
// decoder's own errors are the input's format; a failed read of the object goes to the caller as
// it is.
async function* bunzip2(source: AsyncIterable<Buffer>): AsyncGenerator<Buffer> {
  const decoder = unbzip2();
  let badInput = false;
  const output = new Readable({ read: () => decoder.resume() });
  decoder.on('data', (chunk: Buffer) => {
    if (!output.push(chunk)) decoder.pause();
  });
  decoder.once('end', () => output.push(null));
  decoder.once('error', (error: Error) => {
    badInput = true;
    output.destroy(error);
  });
  let stopped = false;
  const feeding = (async () => {
    try {
      for await (const chunk of source) {
        if (stopped) return; // the reader stopped (LIMIT, or a bad block): read no further
        if (!decoder.write(chunk)) await drainOf(decoder);
      }
      if (!stopped) decoder.end();
    } catch (error) {
      output.destroy(error as Error);
    }
  })();
  try {
    for await (const chunk of output) yield chunk as Buffer;
  } catch (error) {
    if (badInput)
      throw new SelectError(
        'InvalidCompressionFormat',
        'The BZIP2 input could not be decompressed.',
      );
    throw error;
  } finally {
    stopped = true;
    output.destroy();
    decoder.destroy(); // emits close: a writer waiting for drain goes on, and stops
    await feeding;
  }
}

function drainOf(stream: NodeJS.WritableStream): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      stream.off('drain', done);
      stream.off('close', done);
      resolve();
    };
    stream.once('drain', done);
    stream.once('close', done);
  });
}

function writerFor(request: SelectRequest): RowWriter {
  const o = request.output;
  return o.kind === 'CSV' ? new CsvRowWriter(o.csv) : new JsonRowWriter(o.recordDelimiter);
}

function recordsOf(request: SelectRequest, bytes: AsyncIterable<Buffer>, input: SelectInput) {
  const i = request.input;
  if (i.kind === 'CSV')
    return csvRecords(bytes, i.csv, {
      header: input.header,
      firstIsHeader: input.startsAtObjectStart,
    });
  return i.type === 'LINES' ? jsonLines(bytes) : jsonDocument(bytes);
}

export async function* selectMessages(
  request: SelectRequest,
  query: Query,
  input: SelectInput,
): AsyncGenerator<Buffer> {
  const counts: ByteCounts = { scannedBytes: 0, processedBytes: 0, returnedBytes: 0 };
  const execution = new SelectExecution(query, writerFor(request), input.nowMs);
  const scanned = counted(input.body, counts, 'scannedBytes');
  const plain =
    request.compression === 'GZIP'
      ? gunzip(scanned)
      : request.compression === 'BZIP2'
        ? bunzip2(scanned)
        : scanned;
  const batches: AsyncGenerator<InputRecord[]> = recordsOf(
    request,
    counted(plain, counts, 'processedBytes'),
    input,
  );
  let pending = '';
  let progressAt = PROGRESS_INTERVAL_BYTES;
  let quietSince = 0; // scannedBytes when the last message went out
  // Records go out in payloads of at most RECORDS_PAYLOAD_BYTES_MAX, each ending on a whole UTF-8
  // character (a client may decode each payload on its own); all: the rest too, however short.
  const flush = function* (all: boolean): Generator<Buffer> {
    let bytes = Buffer.from(pending, 'utf8');
    while (bytes.length >= RECORDS_PAYLOAD_BYTES_MAX || (all && bytes.length > 0)) {
      const take =
        bytes.length > RECORDS_PAYLOAD_BYTES_MAX
          ? utf8Boundary(bytes.subarray(0, RECORDS_PAYLOAD_BYTES_MAX))
          : bytes.length;
      assert(take > 0, 'every payload carries bytes');
      counts.returnedBytes += take;
      quietSince = counts.scannedBytes;
      yield recordsMessage(bytes.subarray(0, take));
      bytes = bytes.subarray(take);
    }
    pending = bytes.toString('utf8');
  };
  if (!execution.done) {
    try {
      for await (const batch of batches) {
        for (const record of batch) {
          pending += execution.push(record);
          if (pending.length >= RECORDS_PAYLOAD_BYTES_MAX) yield* flush(false);
          if (execution.done) break;
        }
        if (request.progress && counts.scannedBytes >= progressAt) {
          progressAt = counts.scannedBytes + PROGRESS_INTERVAL_BYTES;
          yield progressMessage(counts);
        }
        if (counts.scannedBytes - quietSince >= CONTINUATION_INTERVAL_BYTES) {
          quietSince = counts.scannedBytes;
          yield continuationMessage();
        }
        if (execution.done) break;
      }
    } finally {
      await batches.return(undefined);
    }
  }
  pending += execution.finish();
  yield* flush(true);
  assert(pending === '', 'every record went out');
  if (request.progress) yield progressMessage(counts);
  s3SelectBytes.inc({ stage: 'scanned' }, counts.scannedBytes);
  s3SelectBytes.inc({ stage: 'processed' }, counts.processedBytes);
  s3SelectBytes.inc({ stage: 'returned' }, counts.returnedBytes);
  yield statsMessage(counts);
  yield endMessage();
}

// The length of the longest prefix of bytes that ends on a whole UTF-8 character.
function utf8Boundary(bytes: Buffer): number {
  let i = bytes.length;
  let back = 0;
  while (i > 0 && back < 4 && (bytes[i - 1] & 0xc0) === 0x80) {
    i--;
    back++;
  }
  if (i === 0) return bytes.length;
  const lead = bytes[i - 1];
  const width = lead >= 0xf0 ? 4 : lead >= 0xe0 ? 3 : lead >= 0xc0 ? 2 : 1;
  return width === back + 1 ? bytes.length : i - 1;
}
