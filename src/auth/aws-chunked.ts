// Decoder for Content-Encoding: aws-chunked bodies. Wire format (AWS "Transferring Payload in
// Multiple Chunks" and "Using trailing checksums"):
//   <hex size>[;chunk-signature=<64 hex>]\r\n <size bytes> \r\n   ... repeated ...
//   0[;chunk-signature=<64 hex>]\r\n
//   [name:value\r\n ...]  trailing headers, x-amz-trailer-signature last when signed
//   \r\n
// A pure state machine fed with network reads of any size: a chunk header, a CRLF or a trailer
// line may be split anywhere. Chunk data is emitted as it arrives; each chunk's signature is
// checked when its last byte arrives, before that last piece is emitted, so the consumer (who
// commits only when the body ends) never completes a write over a bad chunk.
import assert from 'node:assert';
import { createHash, type Hash } from 'node:crypto';
import {
  chunkStringToSign,
  emptySha256Hex,
  isSignatureHex,
  sha256Hex,
  signatureHex,
  signaturesEqual,
  trailerStringToSign,
} from './sigv4.ts';
import { S3AuthError } from './types.ts';
import type { ChunkSigning } from './verify.ts';

export const maxChunkSizeBytes = 16 * 1024 * 1024;
export const maxChunkLineBytes = 1024;
export const maxTrailerSizeBytes = 16 * 1024;
const maxTrailerCount = 16;

export interface AwsChunkedOptions {
  signing: ChunkSigning | undefined; // undefined: STREAMING-UNSIGNED-PAYLOAD-TRAILER
  trailer: boolean; // a STREAMING-*-TRAILER payload: trailing headers follow the final chunk
  trailerNames: ReadonlySet<string>; // trailing headers the client announced in x-amz-trailer
}

type State = 'size-line' | 'data' | 'data-crlf' | 'trailer-line' | 'done';

function framingError(message: string): S3AuthError {
  return new S3AuthError('InvalidRequest', 400, `Malformed aws-chunked body: ${message}`);
}

function trailerError(message: string): S3AuthError {
  return new S3AuthError('MalformedTrailerError', 400, `Malformed trailing headers: ${message}`);
}

function signatureError(what: string): S3AuthError {
  return new S3AuthError(
    'SignatureDoesNotMatch',
    403,
    `The ${what} signature we calculated does not match the signature you provided.`,
  );
}

export class AwsChunkedDecoder {
  private readonly options: AwsChunkedOptions;
  private state: State = 'size-line';
  private readonly line = Buffer.alloc(maxChunkLineBytes);
  private lineLength = 0;
  private chunkRemainingBytes = 0;
  private crlfSeen = 0;
  private chunkHash: Hash | undefined;
  private claimedSignature = '';
  private previousSignature: string;
  private trailerBytes = 0;
  private trailerCanonical = '';
  private blankBeforeTrailersSkipped = false;
  private trailerSignature: string | undefined;
  readonly trailers = new Map<string, string>();
  decodedBytes = 0;

  constructor(options: AwsChunkedOptions) {
    assert(options.trailer || options.trailerNames.size === 0, 'trailers need a trailer mode');
    this.options = options;
    this.previousSignature = options.signing?.seedSignatureHex ?? '';
  }

  // Decodes one network read; the decoded pieces (views into `input`) are appended to `out`.
  push(input: Buffer, out: Buffer[]): void {
    let offset = 0;
    while (offset < input.length) {
      if (this.state === 'size-line' || this.state === 'trailer-line') {
        offset = this.readLine(input, offset);
      } else if (this.state === 'data') {
        offset = this.readData(input, offset, out);
      } else if (this.state === 'data-crlf') {
        const expected = this.crlfSeen === 0 ? 0x0d : 0x0a;
        if (input[offset] !== expected) throw framingError('chunk data not followed by CRLF');
        offset += 1;
        this.crlfSeen += 1;
        if (this.crlfSeen === 2) this.state = 'size-line';
      } else {
        // Some clients end with an extra CRLF; anything else after the end is an error.
        if (input[offset] !== 0x0d && input[offset] !== 0x0a) {
          throw framingError('data after the final chunk');
        }
        offset += 1;
      }
    }
    assert.equal(offset, input.length);
  }

  // Called when the raw body has ended; throws unless the framing was complete.
  finish(): void {
    if (this.state === 'trailer-line' && this.lineLength === 0) this.endTrailers();
    if (this.state !== 'done') {
      throw new S3AuthError('IncompleteBody', 400, 'The aws-chunked body ended before its end.');
    }
  }

  private readData(input: Buffer, offset: number, out: Buffer[]): number {
    assert(this.chunkRemainingBytes > 0);
    const n = Math.min(this.chunkRemainingBytes, input.length - offset);
    const piece = input.subarray(offset, offset + n);
    this.chunkHash?.update(piece);
    this.chunkRemainingBytes -= n;
    this.decodedBytes += n;
    if (this.chunkRemainingBytes === 0) {
      if (this.chunkHash !== undefined) this.verifyChunk(this.chunkHash.digest('hex'));
      this.state = 'data-crlf';
      this.crlfSeen = 0;
    }
    out.push(piece);
    return offset + n;
  }

  private readLine(input: Buffer, offset: number): number {
    const newline = input.indexOf(0x0a, offset);
    const end = newline < 0 ? input.length : newline;
    if (this.lineLength + (end - offset) > maxChunkLineBytes) {
      throw framingError(`a line is longer than ${maxChunkLineBytes} bytes`);
    }
    this.lineLength += input.copy(this.line, this.lineLength, offset, end);
    if (newline < 0) return input.length;
    if (this.lineLength === 0 || this.line[this.lineLength - 1] !== 0x0d) {
      throw framingError('line not terminated by CRLF');
    }
    const text = this.line.toString('latin1', 0, this.lineLength - 1);
    this.lineLength = 0;
    if (this.state === 'size-line') this.onSizeLine(text);
    else this.onTrailerLine(text);
    return newline + 1;
  }

  private onSizeLine(text: string): void {
    const semicolon = text.indexOf(';');
    const sizeHex = semicolon < 0 ? text : text.slice(0, semicolon);
    if (!/^[0-9a-fA-F]{1,8}$/.test(sizeHex)) throw framingError(`bad chunk size '${sizeHex}'`);
    const sizeBytes = Number.parseInt(sizeHex, 16);
    if (sizeBytes > maxChunkSizeBytes) {
      throw framingError(`chunk of ${sizeBytes} bytes exceeds ${maxChunkSizeBytes}`);
    }
    if (this.options.signing !== undefined) {
      const extension = semicolon < 0 ? '' : text.slice(semicolon + 1);
      const prefix = 'chunk-signature=';
      const signature = extension.startsWith(prefix) ? extension.slice(prefix.length) : '';
      if (!isSignatureHex(signature)) throw framingError('missing or bad chunk-signature');
      this.claimedSignature = signature;
      this.chunkHash = createHash('sha256');
    }
    if (sizeBytes === 0) {
      if (this.options.signing !== undefined) this.verifyChunk(emptySha256Hex);
      this.state = 'trailer-line';
    } else {
      this.chunkRemainingBytes = sizeBytes;
      this.state = 'data';
    }
  }

  private verifyChunk(chunkSha256Hex: string): void {
    const signing = this.options.signing;
    assert(signing !== undefined);
    const toSign = chunkStringToSign(
      signing.amzDate,
      signing.scope,
      this.previousSignature,
      chunkSha256Hex,
    );
    const expected = signatureHex(signing.key, toSign);
    if (!signaturesEqual(expected, this.claimedSignature)) throw signatureError('chunk');
    this.previousSignature = expected;
    this.chunkHash = undefined;
  }

  private onTrailerLine(text: string): void {
    if (text === '') {
      // Tolerate a blank line between the final chunk and the trailers (seen from MinIO-style
      // encoders); otherwise a blank line ends the body.
      if (this.options.trailer && this.trailers.size === 0 && !this.blankBeforeTrailersSkipped) {
        this.blankBeforeTrailersSkipped = true;
        return;
      }
      this.endTrailers();
      return;
    }
    if (!this.options.trailer) throw trailerError('trailing headers sent without a TRAILER mode');
    this.trailerBytes += text.length + 2;
    if (this.trailerBytes > maxTrailerSizeBytes || this.trailers.size >= maxTrailerCount) {
      throw trailerError(`more than ${maxTrailerSizeBytes} bytes or ${maxTrailerCount} lines`);
    }
    const colon = text.indexOf(':');
    if (colon <= 0) throw trailerError(`line '${text.slice(0, 64)}' has no name`);
    const name = text.slice(0, colon).trim().toLowerCase();
    const value = text.slice(colon + 1).trim();
    if (this.trailerSignature !== undefined) throw trailerError('data after the signature');
    if (name === 'x-amz-trailer-signature') {
      if (this.options.signing === undefined) throw trailerError('unexpected signature');
      this.trailerSignature = value;
      return;
    }
    if (!this.options.trailerNames.has(name)) throw trailerError(`'${name}' was not announced`);
    if (this.trailers.has(name)) throw trailerError(`'${name}' repeated`);
    this.trailers.set(name, value);
    this.trailerCanonical += `${name}:${value}\n`;
  }

  private endTrailers(): void {
    const signing = this.options.signing;
    if (signing !== undefined && this.options.trailer) {
      if (this.trailerSignature === undefined)
        throw trailerError('x-amz-trailer-signature missing');
      const toSign = trailerStringToSign(
        signing.amzDate,
        signing.scope,
        this.previousSignature,
        sha256Hex(this.trailerCanonical),
      );
      const expected = signatureHex(signing.key, toSign);
      if (!signaturesEqual(expected, this.trailerSignature)) throw signatureError('trailer');
    }
    this.state = 'done';
  }
}

// Streams the decoded payload of `raw`; the decoder's trailers are complete once this ends.
export async function* decodeAwsChunked(
  raw: AsyncIterable<Buffer>,
  decoder: AwsChunkedDecoder,
): AsyncGenerator<Buffer> {
  const out: Buffer[] = [];
  for await (const input of raw) {
    assert(Buffer.isBuffer(input), 'raw body yields Buffers');
    decoder.push(input, out);
    for (const piece of out) yield piece;
    out.length = 0;
  }
  decoder.finish();
}
