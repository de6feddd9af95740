// Sealing the data shards of an encrypted stripe: each data shard's plaintext is cut into chunks
// that are encrypted and authenticated one by one (AES-256-GCM or ChaCha20-Poly1305, Node's
// crypto, which uses AES-NI for GCM), so a ranged read opens only the chunks it touches. A sealed
// chunk is 64 KiB, one CRC block of the shard file (src/data/shard-file.ts): a ranged read of
// whole chunks is a read of whole blocks.
//
// The nonce is the chunk's position (shard index, chunk index) and the key is the stripe's own
// data key, drawn at random for this one stripe (docs/guides/security.md, "Encryption at rest",
// says why no nonce is ever reused). The AAD binds the stripe id, the shard index and the chunk
// index: a chunk, or a whole shard, moved to another place fails to open.
import assert from 'node:assert';
import { createCipheriv, createDecipheriv, createSecretKey, type KeyObject } from 'node:crypto';
import { StrataError } from '../common/errors.ts';

export type DataCipher = 'aes-256-gcm' | 'chacha20-poly1305';
export const DATA_CIPHERS: readonly DataCipher[] = ['aes-256-gcm', 'chacha20-poly1305'];

export const DATA_KEY_BYTES = 32;
export const TAG_BYTES = 16;
const NONCE_BYTES = 12;
export const SEALED_CHUNK_BYTES = 64 * 1024;
export const PLAIN_CHUNK_BYTES = SEALED_CHUNK_BYTES - TAG_BYTES;
const AAD_PREFIX = Buffer.from('strata shard chunk v1\0', 'latin1');
// Stripe ids are at most 64 hex characters (src/metadata/extent-ops.ts, STRIPE_ID).
const STRIPE_ID_BYTES_MAX = 64;

// Where a chunk sits: its stripe, its shard and its index in the shard.
export interface ChunkPlace {
  stripeId: string;
  shardIndex: number;
  chunkIndex: number;
}

// The sealed size of `plainBytes` of one shard: every chunk carries its tag.
export function sealedBytesOf(plainBytes: number): number {
  assert(Number.isSafeInteger(plainBytes) && plainBytes >= 0, 'a byte count');
  return plainBytes + Math.ceil(plainBytes / PLAIN_CHUNK_BYTES) * TAG_BYTES;
}

// Unique per (shard, chunk) of a stripe; the data key is unique per stripe.
export function chunkNonce(shardIndex: number, chunkIndex: number): Buffer {
  assert(Number.isInteger(shardIndex) && shardIndex >= 0 && shardIndex < 2 ** 32, 'shard index');
  assert(Number.isInteger(chunkIndex) && chunkIndex >= 0 && chunkIndex < 2 ** 32, 'chunk index');
  const nonce = Buffer.alloc(NONCE_BYTES);
  nonce.writeUInt32BE(shardIndex, 0);
  nonce.writeUInt32BE(chunkIndex, 4);
  return nonce;
}

export function chunkAad(place: ChunkPlace): Buffer {
  const id = Buffer.from(place.stripeId, 'latin1');
  assert(id.length > 0 && id.length <= STRIPE_ID_BYTES_MAX, 'a stripe id');
  const tail = Buffer.alloc(9);
  tail.writeUInt8(id.length, 0);
  tail.writeUInt32BE(place.shardIndex, 1);
  tail.writeUInt32BE(place.chunkIndex, 5);
  return Buffer.concat([AAD_PREFIX, id, tail]);
}

// Seals one chunk (at most PLAIN_CHUNK_BYTES) into `out` at `at`: ciphertext, then the tag.
export function sealChunk(
  key: Buffer,
  cipher: DataCipher,
  place: ChunkPlace,
  plain: Buffer,
  out: Buffer,
  at: number,
): number {
  return new StripeChunks(key, cipher, place.stripeId).seal(
    place.shardIndex,
    place.chunkIndex,
    plain,
    out,
    at,
  );
}

// Opens one sealed chunk (ciphertext then tag); ENCRYPTION_AUTH_FAILED when it does not
// authenticate under this key at this place (moved, altered, or another key's).
export function openChunk(
  key: Buffer,
  cipher: DataCipher,
  place: ChunkPlace,
  sealed: Buffer,
): Buffer {
  return new StripeChunks(key, cipher, place.stripeId).open(
    place.shardIndex,
    place.chunkIndex,
    sealed,
  );
}

// Sealing or opening the chunks of one stripe, many in a row (a shard, a read's window), with
// what every chunk shares made once.
//
// The data key is held as a KeyObject: given a Buffer, Node 24's createCipheriv and
// createDecipheriv find out it is no KeyObject and no CryptoKey by throwing and catching an
// error each time (internal/crypto/keys.js, isKeyObject and isCryptoKey), which cost the
// gateway as much CPU as decrypting the 64 KiB chunk itself (a CPU profile of 16 MiB GETs).
// The KeyObject's copy of the key lives in native memory, cleansed (OPENSSL_clear_free) when
// the object is collected; the caller still zeroes its Buffer after use.
//
// The nonce and the AAD are rewritten in place for each chunk (the cipher takes both in at once:
// the IV at creation, the AAD at setAAD), with exactly the bytes chunkNonce and chunkAad give.
export class StripeChunks {
  private readonly key: KeyObject;
  private readonly cipher: DataCipher;
  private readonly stripeId: string;
  private readonly nonce = Buffer.alloc(NONCE_BYTES);
  private readonly aad: Buffer;

  constructor(key: Buffer, cipher: DataCipher, stripeId: string) {
    assert(key.length === DATA_KEY_BYTES, 'a 256-bit data key');
    this.key = createSecretKey(key);
    this.cipher = cipher;
    this.stripeId = stripeId;
    this.aad = chunkAad({ stripeId, shardIndex: 0, chunkIndex: 0 });
  }

  // Seals one chunk (at most PLAIN_CHUNK_BYTES) into `out` at `at`: ciphertext, then the tag.
  seal(shardIndex: number, chunkIndex: number, plain: Buffer, out: Buffer, at: number): number {
    assert(plain.length > 0 && plain.length <= PLAIN_CHUNK_BYTES, 'a chunk of plaintext');
    this.place(shardIndex, chunkIndex);
    const c = aeadCipher(this.cipher, this.key, this.nonce);
    c.setAAD(this.aad);
    const body = c.update(plain);
    const final = c.final();
    assert(final.length === 0 && body.length === plain.length, 'a stream cipher keeps the length');
    body.copy(out, at);
    c.getAuthTag().copy(out, at + body.length);
    return body.length + TAG_BYTES;
  }

  // The plaintext of one sealed chunk (ciphertext then tag), returned only once its tag
  // authenticates; ChunkAuthError (ENCRYPTION_AUTH_FAILED) otherwise.
  open(shardIndex: number, chunkIndex: number, sealed: Buffer): Buffer {
    if (sealed.length <= TAG_BYTES) {
      throw this.authFailed(shardIndex, chunkIndex, `${sealed.length} bytes is no sealed chunk`);
    }
    const textBytes = sealed.length - TAG_BYTES;
    this.place(shardIndex, chunkIndex);
    const d = aeadDecipher(this.cipher, this.key, this.nonce);
    d.setAAD(this.aad);
    d.setAuthTag(sealed.subarray(textBytes));
    const body = d.update(sealed.subarray(0, textBytes));
    try {
      d.final();
    } catch {
      throw this.authFailed(shardIndex, chunkIndex, 'the tag does not match');
    }
    return body;
  }

  // The nonce and the AAD of the chunk at (shardIndex, chunkIndex): the AAD's last 8 bytes are
  // the two indices (chunkAad).
  private place(shardIndex: number, chunkIndex: number): void {
    assert(shardIndex >= 0 && shardIndex < 2 ** 32 && Number.isInteger(shardIndex), 'shard index');
    assert(chunkIndex >= 0 && chunkIndex < 2 ** 32 && Number.isInteger(chunkIndex), 'chunk index');
    this.nonce.writeUInt32BE(shardIndex, 0);
    this.nonce.writeUInt32BE(chunkIndex, 4);
    const tail = this.aad.length - 8;
    this.aad.writeUInt32BE(shardIndex, tail);
    this.aad.writeUInt32BE(chunkIndex, tail + 4);
  }

  private authFailed(shardIndex: number, chunkIndex: number, why: string): ChunkAuthError {
    return new ChunkAuthError({ stripeId: this.stripeId, shardIndex, chunkIndex }, why);
  }
}

// Node types the two AEADs' options apart; the calls are the same.
function aeadCipher(cipher: DataCipher, key: KeyObject, nonce: Buffer) {
  const options = { authTagLength: TAG_BYTES };
  return cipher === 'aes-256-gcm'
    ? createCipheriv(cipher, key, nonce, options)
    : createCipheriv(cipher, key, nonce, options);
}

function aeadDecipher(cipher: DataCipher, key: KeyObject, nonce: Buffer) {
  const options = { authTagLength: TAG_BYTES };
  return cipher === 'aes-256-gcm'
    ? createDecipheriv(cipher, key, nonce, options)
    : createDecipheriv(cipher, key, nonce, options);
}

// ENCRYPTION_AUTH_FAILED naming the chunk, so a reader can set that shard aside and decode it.
export class ChunkAuthError extends StrataError {
  readonly place: ChunkPlace;
  constructor(place: ChunkPlace, why: string) {
    const { stripeId, shardIndex, chunkIndex } = place;
    super(
      'ENCRYPTION_AUTH_FAILED',
      `stripe ${stripeId} shard ${shardIndex} chunk ${chunkIndex} failed authentication: ${why}`,
    );
    this.place = { ...place };
  }
}
