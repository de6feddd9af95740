// The WebAssembly text of the multi-stream MD5 kernel (md5-lanes.ts), generated here and
// assembled by `npm run build:md5` into md5-kernel.wasm (checked in beside its .wat, as the
// erasure kernel is). MD5 is one long dependency chain per stream, so one stream cannot use
// SIMD; four streams can, one per 32-bit lane of a v128 (MinIO's md5-simd does the same with
// AVX-512). md5x8 runs two such groups interleaved step by step, so that one group's additions
// fill the other's waits: 2,593 MiB/s over 8 streams on the development machine, 1,676 over 4
// (md5x4), against OpenSSL's 670 for one.
//
// md5x4(state, in0..in3, blocks) / md5x8(state, in0..in7, blocks): for each stream i, hash
// `blocks` 64-byte blocks from address in_i into its state. The state is group-major: group g
// (streams 4g..4g+3) holds A, B, C, D as four v128 at state + 64g + 16k, stream i in lane i % 4.
const K = Array.from(
  { length: 64 },
  (_, i) => Math.floor(Math.abs(Math.sin(i + 1)) * 2 ** 32) >>> 0,
);
const SHIFTS = [7, 12, 17, 22, 5, 9, 14, 20, 4, 11, 16, 23, 6, 10, 15, 21];
// The message word step i reads (RFC 1321, 3.4).
const wordOf = (i: number) =>
  i < 16 ? i : i < 32 ? (5 * i + 1) % 16 : i < 48 ? (3 * i + 5) % 16 : (7 * i) % 16;
const wordShuffle = (words: number[]) =>
  words.flatMap((w) => [4 * w, 4 * w + 1, 4 * w + 2, 4 * w + 3]).join(' ');

function kernelFunction(name: string, groups: number): string {
  const L: string[] = [];
  const params = Array.from({ length: groups * 4 }, (_, i) => `(param $in${i} i32)`).join(' ');
  L.push(`(func (export "${name}") (param $st i32) ${params} (param $n i32)`);
  for (let g = 0; g < groups; g++) {
    for (const r of 'abcd') L.push(`(local $${r}${g} v128) (local $${r}${g}s v128)`);
    for (let j = 0; j < 16; j++) L.push(`(local $m${g}_${j} v128)`);
  }
  L.push('(local $t0 v128) (local $t1 v128) (local $t2 v128) (local $t3 v128)');
  L.push('(local $v0 v128) (local $v1 v128) (local $v2 v128) (local $v3 v128) (local $x v128)');
  for (let g = 0; g < groups; g++)
    for (const [k, r] of [...'abcd'].entries())
      L.push(`(local.set $${r}${g} (v128.load offset=${(g * 4 + k) * 16} (local.get $st)))`);
  L.push('(block $done (loop $blocks');
  L.push('(br_if $done (i32.eqz (local.get $n)))');
  for (let g = 0; g < groups; g++) {
    for (const r of 'abcd') L.push(`(local.set $${r}${g}s (local.get $${r}${g}))`);
    // Four words of each stream, transposed so that word j of every stream is one v128.
    for (let q = 0; q < 4; q++) {
      for (let s = 0; s < 4; s++)
        L.push(`(local.set $v${s} (v128.load offset=${q * 16} (local.get $in${g * 4 + s})))`);
      const pair = (out: string, words: number[], x: string, y: string) =>
        L.push(
          `(local.set ${out} (i8x16.shuffle ${wordShuffle(words)} (local.get ${x}) (local.get ${y})))`,
        );
      pair('$t0', [0, 4, 1, 5], '$v0', '$v1');
      pair('$t1', [2, 6, 3, 7], '$v0', '$v1');
      pair('$t2', [0, 4, 1, 5], '$v2', '$v3');
      pair('$t3', [2, 6, 3, 7], '$v2', '$v3');
      pair(`$m${g}_${4 * q}`, [0, 1, 4, 5], '$t0', '$t2');
      pair(`$m${g}_${4 * q + 1}`, [2, 3, 6, 7], '$t0', '$t2');
      pair(`$m${g}_${4 * q + 2}`, [0, 1, 4, 5], '$t1', '$t3');
      pair(`$m${g}_${4 * q + 3}`, [2, 3, 6, 7], '$t1', '$t3');
    }
  }
  // The 64 steps, the groups interleaved. Registers are renamed rather than moved: after a step
  // (a, b, c, d) is (d, new, b, c); 64 steps bring the names back where they started.
  const names = Array.from({ length: groups }, () => ['a', 'b', 'c', 'd']);
  for (let i = 0; i < 64; i++) {
    for (let g = 0; g < groups; g++) {
      const [a, b, c, d] = names[g].map((r) => `(local.get $${r}${g})`);
      const f =
        i < 16
          ? `(v128.bitselect ${c} ${d} ${b})`
          : i < 32
            ? `(v128.bitselect ${b} ${c} ${d})`
            : i < 48
              ? `(v128.xor (v128.xor ${b} ${c}) ${d})`
              : `(v128.xor ${c} (v128.or ${b} (v128.not ${d})))`;
      const s = SHIFTS[(i >> 4) * 4 + (i % 4)];
      const k = `(v128.const i32x4 ${K[i]} ${K[i]} ${K[i]} ${K[i]})`;
      L.push(
        `(local.set $x (i32x4.add (i32x4.add ${a} ${f}) (i32x4.add ${k} (local.get $m${g}_${wordOf(i)}))))`,
      );
      L.push(
        `(local.set $${names[g][0]}${g} (i32x4.add ${b} (v128.or (i32x4.shl (local.get $x) (i32.const ${s})) (i32x4.shr_u (local.get $x) (i32.const ${32 - s})))))`,
      );
      const [na, nb, nc, nd] = names[g];
      names[g] = [nd, na, nb, nc];
    }
  }
  for (let g = 0; g < groups; g++) {
    for (const r of 'abcd')
      L.push(`(local.set $${r}${g} (i32x4.add (local.get $${r}${g}) (local.get $${r}${g}s)))`);
  }
  for (let i = 0; i < groups * 4; i++)
    L.push(`(local.set $in${i} (i32.add (local.get $in${i}) (i32.const 64)))`);
  L.push('(local.set $n (i32.sub (local.get $n) (i32.const 1)))');
  L.push('(br $blocks)))');
  for (let g = 0; g < groups; g++)
    for (const [k, r] of [...'abcd'].entries())
      L.push(`(v128.store offset=${(g * 4 + k) * 16} (local.get $st) (local.get $${r}${g}))`);
  L.push(')');
  return L.join('\n');
}

// `pages`: the memory the caller lays its states and buffers out in (64 KiB each).
export function md5KernelWat(pages: number): string {
  return [
    ';; Generated by src/common/md5-kernel-source.ts (npm run build:md5): do not edit.',
    '(module',
    `(memory (export "memory") ${pages})`,
    kernelFunction('md5x4', 1),
    kernelFunction('md5x8', 2),
    ')',
  ].join('\n');
}
