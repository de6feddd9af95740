// Combines CRCs of consecutive pieces into the CRC of their concatenation without the bytes
// (zlib's crc32_combine, generalised): crc(A ‖ B) = crc(A) · x^(8·|B|) mod P  ⊕  crc(B).
// Valid for reflected CRCs whose initial value and final XOR are all ones, which CRC32, CRC32C
// and CRC64NVME all are. Used for FULL_OBJECT checksums of multipart uploads.
import assert from 'node:assert';

export type CombinableCrc = 'CRC32' | 'CRC32C' | 'CRC64NVME';

const REFLECTED_POLYS: Record<CombinableCrc, { poly: bigint; widthBits: number }> = {
  CRC32: { poly: 0xedb88320n, widthBits: 32 },
  CRC32C: { poly: 0x82f63b78n, widthBits: 32 },
  CRC64NVME: { poly: 0x9a6c9329ac4bc9b5n, widthBits: 64 },
};

class CrcAlgebra {
  private readonly poly: bigint;
  private readonly top: bigint; // x^0 in the reflected representation
  private readonly powers: bigint[] = []; // x^(2^k) mod P, k = 0..63

  constructor(poly: bigint, widthBits: number) {
    this.poly = poly;
    this.top = 1n << BigInt(widthBits - 1);
    let p = this.top >> 1n; // x^1
    for (let k = 0; k < 64; k++) {
      this.powers.push(p);
      p = this.multiply(p, p);
    }
  }

  multiply(a: bigint, b: bigint): bigint {
    let m = this.top;
    let product = 0n;
    let x = b;
    while (m !== 0n) {
      if ((a & m) !== 0n) {
        product ^= x;
        if ((a & (m - 1n)) === 0n) break;
      }
      m >>= 1n;
      x = (x & 1n) !== 0n ? (x >> 1n) ^ this.poly : x >> 1n;
    }
    return product;
  }

  // x^(n · 2^k) mod P
  xPowerTimes(n: bigint, k: number): bigint {
    let p = this.top;
    let rest = n;
    let i = k;
    while (rest > 0n) {
      if ((rest & 1n) !== 0n) p = this.multiply(this.powers[i & 63], p);
      rest >>= 1n;
      i++;
    }
    return p;
  }
}

const algebras = new Map<CombinableCrc, CrcAlgebra>();

function algebraFor(algorithm: CombinableCrc): CrcAlgebra {
  let algebra = algebras.get(algorithm);
  if (algebra === undefined) {
    const { poly, widthBits } = REFLECTED_POLYS[algorithm];
    algebra = new CrcAlgebra(poly, widthBits);
    algebras.set(algorithm, algebra);
  }
  return algebra;
}

// crc1 covers the first piece, crc2 the second of length2Bytes; both as big-endian digest bytes.
export function combineCrc(
  algorithm: CombinableCrc,
  crc1: Buffer,
  crc2: Buffer,
  length2Bytes: number,
): Buffer {
  const widthBytes = REFLECTED_POLYS[algorithm].widthBits / 8;
  assert.equal(crc1.length, widthBytes, 'first CRC has the algorithm width');
  assert.equal(crc2.length, widthBytes, 'second CRC has the algorithm width');
  assert.ok(Number.isSafeInteger(length2Bytes) && length2Bytes >= 0, 'length is a byte count');
  const algebra = algebraFor(algorithm);
  const a = BigInt(`0x${crc1.toString('hex')}`);
  const b = BigInt(`0x${crc2.toString('hex')}`);
  const combined = algebra.multiply(algebra.xPowerTimes(BigInt(length2Bytes), 3), a) ^ b;
  return Buffer.from(combined.toString(16).padStart(widthBytes * 2, '0'), 'hex');
}

export function isCombinable(algorithm: string): algorithm is CombinableCrc {
  return algorithm in REFLECTED_POLYS;
}
