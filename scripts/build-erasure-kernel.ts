// Regenerates src/erasure/kernel.wat from its generator and assembles src/erasure/kernel.wasm.
//   npm run build:erasure
import { writeFileSync } from 'node:fs';
import { assembleKernel, kernelWat } from '../src/erasure/kernel-source.ts';

for (const [name, relaxed] of [
  ['kernel', false],
  ['kernel-relaxed', true],
] as const) {
  const wat = kernelWat(relaxed);
  const wasm = await assembleKernel(wat);
  writeFileSync(new URL(`../src/erasure/${name}.wat`, import.meta.url), wat);
  writeFileSync(new URL(`../src/erasure/${name}.wasm`, import.meta.url), wasm);
  console.log(`${name}.wasm: ${wasm.length} bytes`);
}
