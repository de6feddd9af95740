// The hashes a body's bytes are run through where they arrive, by name: node:crypto's digests
// and the two CRCs S3 clients send most (the AWS SDK declares a CRC32 with every PUT; Strata
// keeps a CRC32C of every object). One shape for both, so a hashing thread (hash-thread.ts) and
// the calling thread (hash-offload.ts, a body within its first segment) run the same code.
// A CRC's digest is its 4 bytes big-endian, as S3 sends them.
import { createHash } from 'node:crypto';
import { crc32, crc32c } from '@node-rs/crc32';

export type HashAlgorithm = 'md5' | 'sha1' | 'sha256' | 'crc32' | 'crc32c';

export interface RunningHash {
  update(bytes: Uint8Array): void;
  digest(): Buffer; // once; no update after it
}

export function startHash(algorithm: HashAlgorithm): RunningHash {
  if (algorithm !== 'crc32' && algorithm !== 'crc32c') return createHash(algorithm);
  const step = algorithm === 'crc32' ? crc32 : crc32c;
  let value = 0;
  return {
    update: (bytes) => {
      value = step(bytes, value);
    },
    digest: () => {
      const out = Buffer.alloc(4);
      out.writeUInt32BE(value >>> 0);
      return out;
    },
  };
}
