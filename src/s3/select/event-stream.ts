// AWS's event stream framing (application/vnd.amazon.eventstream), which SelectObjectContent
// answers in. A message is: total length (uint32 BE), headers length (uint32 BE), CRC32 of those
// eight bytes, the headers, the payload, and a CRC32 of everything before it. A header is a
// one-byte name length, the name, a value type (7: string), a uint16 BE length and the value.
import assert from 'node:assert';
import { crc32 } from '@node-rs/crc32';

const PRELUDE_BYTES = 12;
const MESSAGE_CRC_BYTES = 4;
const HEADER_TYPE_STRING = 7;
// The framing allows 16 MiB messages; ours stay far below (Records payloads are cut at 64 KiB).
export const MESSAGE_BYTES_MAX = 16 * 1024 * 1024;

export function encodeMessage(headers: [string, string][], payload: Buffer): Buffer {
  const encoded = headers.map(([name, value]) => {
    const n = Buffer.from(name, 'utf8');
    const v = Buffer.from(value, 'utf8');
    assert(n.length > 0 && n.length < 256 && v.length < 65536, 'header fits its length fields');
    const h = Buffer.allocUnsafe(1 + n.length + 1 + 2 + v.length);
    h.writeUInt8(n.length, 0);
    n.copy(h, 1);
    h.writeUInt8(HEADER_TYPE_STRING, 1 + n.length);
    h.writeUInt16BE(v.length, 2 + n.length);
    v.copy(h, 4 + n.length);
    return h;
  });
  const headersBytes = encoded.reduce((sum, h) => sum + h.length, 0);
  const total = PRELUDE_BYTES + headersBytes + payload.length + MESSAGE_CRC_BYTES;
  assert(total <= MESSAGE_BYTES_MAX, `an event stream message of ${total} bytes is too long`);
  const message = Buffer.allocUnsafe(total);
  message.writeUInt32BE(total, 0);
  message.writeUInt32BE(headersBytes, 4);
  message.writeUInt32BE(crc32(message.subarray(0, 8)), 8);
  let at = PRELUDE_BYTES;
  for (const h of encoded) at += h.copy(message, at);
  at += payload.copy(message, at);
  assert(at === total - MESSAGE_CRC_BYTES);
  message.writeUInt32BE(crc32(message.subarray(0, at)), at);
  return message;
}

const event = (type: string, contentType?: string): [string, string][] => [
  [':event-type', type],
  ...(contentType === undefined ? [] : [[':content-type', contentType] as [string, string]]),
  [':message-type', 'event'],
];

export function recordsMessage(payload: Buffer): Buffer {
  return encodeMessage(event('Records', 'application/octet-stream'), payload);
}

export interface ByteCounts {
  scannedBytes: number;
  processedBytes: number;
  returnedBytes: number;
}

function countsXml(root: 'Stats' | 'Progress', c: ByteCounts): Buffer {
  return Buffer.from(
    `<?xml version="1.0" encoding="UTF-8"?><${root}><BytesScanned>${c.scannedBytes}</BytesScanned>` +
      `<BytesProcessed>${c.processedBytes}</BytesProcessed>` +
      `<BytesReturned>${c.returnedBytes}</BytesReturned></${root}>`,
    'utf8',
  );
}

export function statsMessage(counts: ByteCounts): Buffer {
  return encodeMessage(event('Stats', 'text/xml'), countsXml('Stats', counts));
}

export function progressMessage(counts: ByteCounts): Buffer {
  return encodeMessage(event('Progress', 'text/xml'), countsXml('Progress', counts));
}

// A keep-alive: sent while a long scan finds nothing to return.
export function continuationMessage(): Buffer {
  return encodeMessage(event('Cont'), Buffer.alloc(0));
}

export function endMessage(): Buffer {
  return encodeMessage(event('End'), Buffer.alloc(0));
}

// An error after the response has started: the stream's last message.
export function errorMessage(code: string, message: string): Buffer {
  const text = Buffer.from(message, 'utf8').subarray(0, 60_000).toString('utf8');
  return encodeMessage(
    [
      [':error-code', code],
      [':error-message', text],
      [':message-type', 'error'],
    ],
    Buffer.alloc(0),
  );
}
