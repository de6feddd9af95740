// Small dense matrices over GF(256), rows of Uint8Array. Only what Reed-Solomon needs.
import assert from 'node:assert';
import { StrataError } from '../common/errors.ts';
import { div, exp, mul } from './gf256.ts';

export type Matrix = Uint8Array[];

export function zeros(rows: number, cols: number): Matrix {
  return Array.from({ length: rows }, () => new Uint8Array(cols));
}

export function identity(size: number): Matrix {
  const m = zeros(size, size);
  for (let i = 0; i < size; i++) m[i][i] = 1;
  return m;
}

// Row r, column c = r^c (0^0 = 1), as Backblaze's `vandermonde`.
export function vandermonde(rows: number, cols: number): Matrix {
  const m = zeros(rows, cols);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) m[r][c] = exp(r, c);
  return m;
}

export function multiply(a: Matrix, b: Matrix): Matrix {
  assert.equal(a[0].length, b.length, 'matrix dimensions agree');
  const out = zeros(a.length, b[0].length);
  for (let r = 0; r < a.length; r++) {
    for (let c = 0; c < b[0].length; c++) {
      let value = 0;
      for (let i = 0; i < b.length; i++) value ^= mul(a[r][i], b[i][c]);
      out[r][c] = value;
    }
  }
  return out;
}

export function subMatrix(
  m: Matrix,
  rowStart: number,
  rowEnd: number,
  colStart: number,
  colEnd: number,
) {
  return m.slice(rowStart, rowEnd).map((row) => row.slice(colStart, colEnd));
}

// Gauss-Jordan elimination on [m | I].
export function invert(m: Matrix): Matrix {
  const size = m.length;
  assert(
    m.every((row) => row.length === size),
    'only square matrices invert',
  );
  const work = m.map((row, r) => {
    const wide = new Uint8Array(2 * size);
    wide.set(row);
    wide[size + r] = 1;
    return wide;
  });
  for (let col = 0; col < size; col++) {
    let pivot = col;
    while (pivot < size && work[pivot][col] === 0) pivot++;
    if (pivot === size) throw new StrataError('EINVAL', 'matrix is singular');
    [work[col], work[pivot]] = [work[pivot], work[col]];
    const scale = work[col][col];
    if (scale !== 1) for (let c = 0; c < 2 * size; c++) work[col][c] = div(work[col][c], scale);
    for (let r = 0; r < size; r++) {
      const factor = work[r][col];
      if (r === col || factor === 0) continue;
      for (let c = 0; c < 2 * size; c++) work[r][c] ^= mul(factor, work[col][c]);
    }
  }
  return work.map((row) => row.slice(size));
}
