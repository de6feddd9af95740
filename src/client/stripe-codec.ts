import { ReedSolomon } from '../erasure/index.ts';

// One codec per erasure profile, shared by every stripe read and write of the process.
const codecs = new Map<string, ReedSolomon>();
export function codecFor(k: number, m: number): ReedSolomon {
  const name = `${k}+${m}`;
  let codec = codecs.get(name);
  if (!codec) {
    codec = new ReedSolomon(k, m);
    codecs.set(name, codec);
  }
  return codec;
}

// Zeroed shard buffers in one allocation, each starting on an 8-byte boundary so the codec can
// work a word at a time.
export function shardViews(count: number, sizeBytes: number): Buffer[] {
  const stride = Math.ceil(sizeBytes / 8) * 8;
  const block = Buffer.alloc(count * stride);
  return Array.from({ length: count }, (_, i) =>
    block.subarray(i * stride, i * stride + sizeBytes),
  );
}
