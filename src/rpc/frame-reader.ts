// Frames read from a socket straight into their own buffers, with net.Socket's `onread` (the
// socket asks `nextBuffer()` where each read goes). A frame larger than the scratch buffer gets
// a buffer of its exact length once its length prefix is in, and the kernel copies the rest of
// it there: one allocation and no copy per frame. The stream path (FrameDecoder) allocated a
// 64 KiB chunk per socket read and copied them together (Buffer.concat) for every large frame:
// 5-7% of a data server's busy time in benches/repair, and most of what its collector freed.
// Small frames are parsed from the scratch buffer and copied out, since the scratch is reused
// (and msgpack binary fields decode as views of their source).
// `largeBuffer`, when given, may supply a large frame's buffer (the RPC client leases one from a
// pool for a call that will give it back; a data server places a shard's body where its file's
// direct write takes it from: src/data/staged-bodies.ts); the frame then carries it as `leased`,
// and whoever takes the frame owns it. Until the frame is whole, the reader alone writes to it;
// a leased buffer of a frame that never became whole, or did not decode, is the reader's to give
// back (`abandon`).
import assert from 'node:assert';
import {
  checkFrameLength,
  decodeFrame,
  FRAME_HEADER_AT,
  FRAME_HEADER_LENGTH_AT,
  FRAME_PREFIX_BYTES,
  type Frame,
} from './frame.ts';

export const FRAME_SCRATCH_BYTES = 64 * 1024;
// A large frame's buffer is chosen once its fixed fields are in (prefix, kind, request id, header
// length): the body's place in the frame is known then.
const REQUEST_ID_AT = FRAME_PREFIX_BYTES + 1;

// `bodyAt`: where the frame's body starts, from its start (its header length as sent: checked
// only when the frame decodes, so it may lie past the frame's end).
export type LargeFrameBuffer = (
  requestId: number,
  frameBytes: number,
  bodyAt: number,
) => Buffer | undefined;

export class FrameReader {
  private readonly largeBuffer: LargeFrameBuffer | undefined;
  private largeLeased = false;
  private readonly scratch = Buffer.allocUnsafe(FRAME_SCRATCH_BYTES);
  // Bytes read into the scratch and not yet parsed: [start, end).
  private start = 0;
  private end = 0;
  // A frame too large for the scratch, prefix included, being filled by the socket.
  private large: Buffer | undefined;
  private largeFilled = 0;

  constructor(largeBuffer?: LargeFrameBuffer) {
    this.largeBuffer = largeBuffer;
  }

  // Where the next socket read goes: the rest of the large frame, else the scratch's free tail.
  nextBuffer(): Buffer {
    if (this.large !== undefined) return this.large.subarray(this.largeFilled);
    if (this.start > 0) {
      this.scratch.copy(this.scratch, 0, this.start, this.end);
      this.end -= this.start;
      this.start = 0;
    }
    assert(this.end < FRAME_SCRATCH_BYTES, 'an unparsed frame in the scratch fits it');
    return this.scratch.subarray(this.end);
  }

  // `bytesRead` bytes landed in `buffer` (the last nextBuffer()): the frames now complete.
  read(bytesRead: number, buffer: Buffer): Frame[] {
    assert(bytesRead > 0 && bytesRead <= buffer.length, 'a read fills part of its buffer');
    const frames: Frame[] = [];
    if (this.large !== undefined) {
      assert(buffer.buffer === this.large.buffer, 'the read went into the large frame');
      this.largeFilled += bytesRead;
      if (this.largeFilled < this.large.length) return frames;
      // A frame that does not decode throws here and stays, for abandon() to give back.
      const frame = decodeLarge(this.large, this.largeLeased);
      this.large = undefined;
      this.largeLeased = false;
      this.largeFilled = 0;
      frames.push(frame);
      return frames;
    }
    assert(buffer.buffer === this.scratch.buffer, 'the read went into the scratch');
    this.end += bytesRead;
    this.parseScratch(frames);
    return frames;
  }

  // Complete frames in the scratch are copied out and decoded; a large frame's first bytes move
  // to its own buffer.
  private parseScratch(frames: Frame[]): void {
    for (;;) {
      const available = this.end - this.start;
      if (available < FRAME_PREFIX_BYTES) return;
      const frameBytes =
        FRAME_PREFIX_BYTES + checkFrameLength(this.scratch.readUInt32BE(this.start));
      if (frameBytes > FRAME_SCRATCH_BYTES) {
        assert(available < frameBytes, 'a read never passes the end of the frame it began');
        if (available < FRAME_HEADER_AT) return; // a frame has them: wait for them
        const requestId = this.scratch.readUInt32BE(this.start + REQUEST_ID_AT);
        const bodyAt =
          FRAME_HEADER_AT + this.scratch.readUInt32BE(this.start + FRAME_HEADER_LENGTH_AT);
        const leased = this.largeBuffer?.(requestId, frameBytes, bodyAt);
        assert(leased === undefined || leased.length === frameBytes, 'a buffer of the frame');
        this.large = leased ?? Buffer.allocUnsafe(frameBytes);
        this.largeLeased = leased !== undefined;
        this.largeFilled = this.scratch.copy(this.large, 0, this.start, this.end);
        this.start = this.end = 0;
        return;
      }
      if (available < frameBytes) return;
      const bytes = Buffer.from(this.scratch.subarray(this.start, this.start + frameBytes));
      this.start += frameBytes;
      frames.push(decodeFrame(bytes));
    }
  }

  // The leased buffer of a large frame this reader holds and will not finish (its connection
  // closed, or the frame did not decode), for the caller to give back to where it came from.
  abandon(): Buffer | undefined {
    const leased = this.largeLeased ? this.large : undefined;
    this.large = undefined;
    this.largeLeased = false;
    this.largeFilled = 0;
    return leased;
  }
}

// A whole large frame; a leased buffer rides along with it. (One that does not decode closes the
// connection; the reader still holds its buffer: abandon().)
function decodeLarge(bytes: Buffer, leased: boolean): Frame {
  if (!leased) return decodeFrame(bytes);
  return { ...decodeFrame(bytes), leased: bytes };
}
