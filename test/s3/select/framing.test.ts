// The event stream framing checked against node:zlib's CRC32 (an implementation of its own), and
// ScanRange's record alignment as a property: ranges that tile an object give each record once.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { crc32 } from 'node:zlib';
import fc from 'fast-check';
import { encodeMessage, errorMessage, statsMessage } from '../../../src/s3/select/event-stream.ts';
import {
  resolveScanRange,
  scanRangeBytes,
  scanReadOffset,
} from '../../../src/s3/select/scan-range.ts';

// Decodes one message by the format's definition; asserts both CRCs and the lengths.
function decode(message: Buffer): { headers: Record<string, string>; payload: Buffer } {
  const total = message.readUInt32BE(0);
  const headersBytes = message.readUInt32BE(4);
  assert.equal(total, message.length, 'total length');
  assert.equal(message.readUInt32BE(8), crc32(message.subarray(0, 8)), 'prelude CRC');
  assert.equal(
    message.readUInt32BE(total - 4),
    crc32(message.subarray(0, total - 4)),
    'message CRC',
  );
  const headers: Record<string, string> = {};
  let at = 12;
  while (at < 12 + headersBytes) {
    const nameLength = message[at];
    const name = message.subarray(at + 1, at + 1 + nameLength).toString();
    assert.equal(message[at + 1 + nameLength], 7, 'string header');
    const valueLength = message.readUInt16BE(at + 2 + nameLength);
    headers[name] = message
      .subarray(at + 4 + nameLength, at + 4 + nameLength + valueLength)
      .toString();
    at += 4 + nameLength + valueLength;
  }
  assert.equal(at, 12 + headersBytes, 'headers end where their length says');
  return { headers, payload: message.subarray(at, total - 4) };
}

test('event stream messages: lengths, both CRC32s and string headers', () => {
  const records = decode(
    encodeMessage(
      [
        [':event-type', 'Records'],
        [':message-type', 'event'],
      ],
      Buffer.from('a,b\n'),
    ),
  );
  assert.deepEqual(records.headers, { ':event-type': 'Records', ':message-type': 'event' });
  assert.equal(records.payload.toString(), 'a,b\n');
  const stats = decode(statsMessage({ scannedBytes: 10, processedBytes: 20, returnedBytes: 3 }));
  assert.equal(stats.headers[':content-type'], 'text/xml');
  assert.match(
    stats.payload.toString(),
    /<BytesScanned>10<\/BytesScanned><BytesProcessed>20<\/BytesProcessed><BytesReturned>3</,
  );
  const error = decode(errorMessage('CastFailed', 'Cannot cast'));
  assert.deepEqual(error.headers, {
    ':error-code': 'CastFailed',
    ':error-message': 'Cannot cast',
    ':message-type': 'error',
  });
  assert.equal(error.payload.length, 0);
});

async function collect(source: AsyncIterable<Buffer>): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of source) chunks.push(c);
  return Buffer.concat(chunks).toString('latin1');
}

// The object's bytes from an offset, in chunks of a given size (as a read would give them).
async function* chunked(object: Buffer, offset: number, size: number): AsyncGenerator<Buffer> {
  for (let i = offset; i < object.length; i += size) yield object.subarray(i, i + size);
}

test('ScanRange: ranges tiling the object give every record exactly once', async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.array(fc.stringMatching(/^[a-c,]{0,12}$/), { minLength: 1, maxLength: 30 }),
      fc.constantFrom('\n', '\r\n', '|'),
      fc.array(fc.nat(), { maxLength: 6 }),
      fc.integer({ min: 1, max: 9 }),
      async (records, delimiterText, rawCuts, chunkBytes) => {
        const object = Buffer.from(records.map((r) => r + delimiterText).join(''), 'latin1');
        const delimiter = Buffer.from(delimiterText);
        const cuts = [...new Set([0, ...rawCuts.map((c) => c % object.length), object.length])];
        cuts.sort((a, b) => a - b);
        let all = '';
        for (let i = 0; i + 1 < cuts.length; i++) {
          const range = resolveScanRange({ start: cuts[i], end: cuts[i + 1] - 1 }, object.length);
          assert.ok(range !== undefined);
          const offset = scanReadOffset(range, delimiter);
          all += await collect(
            scanRangeBytes(chunked(object, offset, chunkBytes), range, delimiter),
          );
        }
        assert.equal(all, object.toString('latin1'));
      },
    ),
    { numRuns: 300, seed: 16 },
  );
});

test('ScanRange: End alone is the last bytes; Start past the end is refused', () => {
  assert.deepEqual(resolveScanRange({ end: 10 }, 100), { start: 90, end: 99 });
  assert.deepEqual(resolveScanRange({ end: 1000 }, 100), { start: 0, end: 99 });
  assert.deepEqual(resolveScanRange({ start: 50 }, 100), { start: 50, end: 99 });
  assert.throws(() => resolveScanRange({ start: 100 }, 100), /past the end/);
});
