// CRC-64/NVME (reflected polynomial 0x9A6C9329AC4BC9B5, init and xorout all ones), the checksum
// S3 calls CRC64NVME. The 64-bit state is kept as two unsigned 32-bit halves so the byte loop
// stays in small integers (no BigInt per byte); the table is built once with BigInt.
const POLY = 0x9a6c9329ac4bc9b5n;
const MASK32 = 0xffffffffn;

const TABLE_LO = new Uint32Array(256);
const TABLE_HI = new Uint32Array(256);
for (let n = 0; n < 256; n++) {
  let c = BigInt(n);
  for (let k = 0; k < 8; k++) c = c & 1n ? (c >> 1n) ^ POLY : c >> 1n;
  TABLE_LO[n] = Number(c & MASK32);
  TABLE_HI[n] = Number(c >> 32n);
}

export class Crc64Nvme {
  private lo = 0xffffffff;
  private hi = 0xffffffff;

  update(data: Uint8Array): this {
    let lo = this.lo;
    let hi = this.hi;
    for (let i = 0; i < data.length; i++) {
      const index = (lo ^ data[i]) & 0xff;
      lo = ((lo >>> 8) | (hi << 24)) ^ TABLE_LO[index];
      hi = (hi >>> 8) ^ TABLE_HI[index];
    }
    this.lo = lo >>> 0;
    this.hi = hi >>> 0;
    return this;
  }

  // The final value, big-endian, as S3 base64-encodes it.
  digest(): Buffer {
    const out = Buffer.alloc(8);
    out.writeUInt32BE(~this.hi >>> 0, 0);
    out.writeUInt32BE(~this.lo >>> 0, 4);
    return out;
  }
}
