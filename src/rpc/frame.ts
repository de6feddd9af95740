// Wire format of the internal RPC: one frame per request or response.
//   [u32 frameLength][u8 kind][u32 requestId][u32 headerLength][header: msgpack][body: raw bytes]
// frameLength counts everything after itself. The body is whatever bytes follow the header: shard
// data travels as-is, never re-encoded.
import assert from 'node:assert';
import { Packr } from 'msgpackr';
import { StrataError } from '../common/errors.ts';

export const FRAME_PREFIX_BYTES = 4;
export const FRAME_FIXED_BYTES = 1 + 4 + 4; // kind, request id, header length
// Where, from a frame's start, its header length is; the header follows the fixed fields.
export const FRAME_HEADER_LENGTH_AT = FRAME_PREFIX_BYTES + 1 + 4;
export const FRAME_HEADER_AT = FRAME_PREFIX_BYTES + FRAME_FIXED_BYTES;
export const FRAME_BYTES_MAX = 72 * 1024 * 1024;

export const KIND_REQUEST = 0;
export const KIND_RESPONSE_OK = 1;
export const KIND_RESPONSE_ERROR = 2;

// useRecords off: plain maps, so either side can decode without shared structure state.
const packr = new Packr({ useRecords: false, moreTypes: false });

export interface Frame {
  kind: number;
  requestId: number;
  header: unknown;
  body: Buffer | undefined;
  // The whole frame's buffer, when the reader leased it (frame-reader.ts): its taker gives it back.
  leased?: Buffer;
}

// Returns the buffers to write (prefix+fixed+header, then the body untouched).
export function encodeFrame(
  kind: number,
  requestId: number,
  header: unknown,
  body?: Buffer,
): Buffer[] {
  const headerBytes = packr.pack(header);
  const frameLength = FRAME_FIXED_BYTES + headerBytes.length + (body?.length ?? 0);
  if (frameLength + FRAME_PREFIX_BYTES > FRAME_BYTES_MAX) {
    throw new StrataError(
      'RPC_BAD_FRAME',
      `frame of ${frameLength} bytes exceeds ${FRAME_BYTES_MAX}`,
    );
  }
  const head = Buffer.allocUnsafe(FRAME_PREFIX_BYTES + FRAME_FIXED_BYTES + headerBytes.length);
  head.writeUInt32BE(frameLength, 0);
  head.writeUInt8(kind, 4);
  head.writeUInt32BE(requestId >>> 0, 5);
  head.writeUInt32BE(headerBytes.length, 9);
  headerBytes.copy(head, 13);
  return body && body.length > 0 ? [head, body] : [head];
}

// Accumulates socket data and yields complete frames. Bodies are slices of the received bytes
// when a frame arrived in one piece, one copy otherwise.
// `largeBuffer`, when given, supplies the buffer of each frame over LARGE_FRAME_BYTES that did not
// arrive whole, once its fixed fields are in (`bodyAt`: where its body starts, as the header
// length says; frame-reader.ts): its bytes are copied there as they come, and the frame carries
// it as `leased` (its taker gives it back). Without it such a frame is joined from its chunks
// once whole (Buffer.concat: a fresh allocation per frame, 8-12% of a data server's busy time
// under S3 PUTs and much of its garbage). The stream path: a server's TLS connections (and token
// ones where Node lacks the handle reads) are read so; the others through FrameReader.
export const LARGE_FRAME_BYTES = 64 * 1024;

export class FrameDecoder {
  private chunks: Buffer[] = [];
  private buffered = 0;
  private readonly largeBuffer: ((frameBytes: number, bodyAt: number) => Buffer) | undefined;
  // A large frame being filled, prefix included, and how much of it is.
  private large: Buffer | undefined;
  private largeFilled = 0;

  constructor(largeBuffer?: (frameBytes: number, bodyAt: number) => Buffer) {
    this.largeBuffer = largeBuffer;
  }

  push(chunk: Buffer): Frame[] {
    const frames: Frame[] = [];
    let rest = chunk;
    if (this.large !== undefined) {
      const large = this.large;
      const n = Math.min(rest.length, large.length - this.largeFilled);
      rest.copy(large, this.largeFilled, 0, n);
      this.largeFilled += n;
      if (this.largeFilled < large.length) return frames;
      // A frame that does not decode throws here and stays, for abandon() to give back.
      frames.push({ ...decodeFrame(large), leased: large });
      this.large = undefined;
      this.largeFilled = 0;
      rest = rest.subarray(n);
      if (rest.length === 0) return frames;
    }
    this.chunks.push(rest);
    this.buffered += rest.length;
    for (;;) {
      if (this.buffered < FRAME_PREFIX_BYTES) break;
      const frameBytes = FRAME_PREFIX_BYTES + checkFrameLength(this.peekU32(0));
      if (this.buffered < frameBytes) {
        const large = this.largeBuffer !== undefined && frameBytes > LARGE_FRAME_BYTES;
        // Every frame has its fixed fields (checkFrameLength): wait for them.
        if (large && this.buffered >= FRAME_HEADER_AT)
          this.startLarge(frameBytes, FRAME_HEADER_AT + this.peekU32(FRAME_HEADER_LENGTH_AT));
        break;
      }
      frames.push(decodeFrame(this.take(frameBytes)));
    }
    return frames;
  }

  // The frame begun in the chunks (all of them: it is not whole yet) moves to its own buffer.
  private startLarge(frameBytes: number, bodyAt: number): void {
    const large = this.largeBuffer!(frameBytes, bodyAt);
    assert.equal(large.length, frameBytes, 'a buffer of the frame');
    let at = 0;
    for (const chunk of this.chunks) at += chunk.copy(large, at);
    assert.equal(at, this.buffered);
    this.large = large;
    this.largeFilled = at;
    this.chunks = [];
    this.buffered = 0;
  }

  // The buffer of a large frame this decoder holds and will not finish (its connection closed, or
  // the frame did not decode), for the caller to give back to where it came from.
  abandon(): Buffer | undefined {
    const large = this.large;
    this.large = undefined;
    this.largeFilled = 0;
    return large;
  }

  // The u32 at `at` of the buffered bytes (at least at + 4 of them).
  private peekU32(at: number): number {
    const end = at + 4;
    assert(this.buffered >= end, 'the bytes peeked are buffered');
    if (this.chunks[0].length < end) {
      // Merge just enough leading chunks, so later peeks are O(1) again.
      let merged = 0;
      let count = 0;
      while (merged < end) merged += this.chunks[count++].length;
      this.chunks.splice(0, count, Buffer.concat(this.chunks.slice(0, count), merged));
    }
    return this.chunks[0].readUInt32BE(at);
  }

  private take(length: number): Buffer {
    const first = this.chunks[0];
    let out: Buffer;
    if (first.length >= length) {
      out = first.subarray(0, length);
      if (first.length === length) this.chunks.shift();
      else this.chunks[0] = first.subarray(length);
    } else {
      const all = Buffer.concat(this.chunks, this.buffered);
      out = all.subarray(0, length);
      this.chunks = all.length > length ? [all.subarray(length)] : [];
    }
    this.buffered -= length;
    return out;
  }
}

// A frame length prefix read from the network, refused when no valid frame has it.
export function checkFrameLength(frameLength: number): number {
  if (frameLength < FRAME_FIXED_BYTES || frameLength + FRAME_PREFIX_BYTES > FRAME_BYTES_MAX) {
    throw new StrataError('RPC_BAD_FRAME', `bad frame length ${frameLength}`);
  }
  return frameLength;
}

// One whole frame, prefix included; the body is a view of `bytes`.
export function decodeFrame(bytes: Buffer): Frame {
  const kind = bytes.readUInt8(4);
  const requestId = bytes.readUInt32BE(5);
  const headerLength = bytes.readUInt32BE(9);
  const headerEnd = 13 + headerLength;
  if (headerEnd > bytes.length || kind > KIND_RESPONSE_ERROR) {
    throw new StrataError(
      'RPC_BAD_FRAME',
      `malformed frame (kind ${kind}, header ${headerLength} bytes)`,
    );
  }
  let header: unknown;
  try {
    header = packr.unpack(bytes.subarray(13, headerEnd));
  } catch (error) {
    throw new StrataError('RPC_BAD_FRAME', 'frame header is not valid msgpack', { cause: error });
  }
  const body = headerEnd < bytes.length ? bytes.subarray(headerEnd) : undefined;
  assert(body === undefined || body.length > 0);
  return { kind, requestId, header, body };
}
