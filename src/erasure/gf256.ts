// GF(2^8) with the polynomial x^8+x^4+x^3+x^2+1 (0x11D) and generator 2: the field of Backblaze
// JavaReedSolomon, klauspost/reedsolomon and the reed-solomon-erasure crate, so parity bytes match.
import assert from 'node:assert';

const POLYNOMIAL = 0x11d;

export const EXP = new Uint8Array(512);
export const LOG = new Uint8Array(256);
(() => {
  let x = 1;
  for (let i = 0; i < 255; i++) {
    EXP[i] = x;
    LOG[x] = i;
    x <<= 1;
    if (x & 0x100) x ^= POLYNOMIAL;
  }
  for (let i = 255; i < 512; i++) EXP[i] = EXP[i - 255];
})();

// MUL_TABLE[a * 256 + b] = a * b: the hot loop indexes one 256-byte row per coefficient.
export const MUL_TABLE = new Uint8Array(256 * 256);
(() => {
  for (let a = 1; a < 256; a++) {
    for (let b = 1; b < 256; b++) MUL_TABLE[a * 256 + b] = EXP[LOG[a] + LOG[b]];
  }
})();

export function mul(a: number, b: number): number {
  return a === 0 || b === 0 ? 0 : EXP[LOG[a] + LOG[b]];
}

export function div(a: number, b: number): number {
  assert(b !== 0, 'division by zero in GF(256)');
  return a === 0 ? 0 : EXP[LOG[a] + 255 - LOG[b]];
}

export function exp(base: number, power: number): number {
  if (power === 0) return 1;
  if (base === 0) return 0;
  return EXP[(LOG[base] * power) % 255];
}
