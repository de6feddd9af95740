// Regenerates src/common/md5-kernel.wat from its generator and assembles md5-kernel.wasm.
//   npm run build:md5
import { writeFileSync } from 'node:fs';
import { md5KernelWat } from '../src/common/md5-kernel-source.ts';
import { KERNEL_PAGES } from '../src/common/md5-lanes.ts';
import { assembleKernel } from '../src/erasure/kernel-source.ts';

const wat = md5KernelWat(KERNEL_PAGES);
const wasm = await assembleKernel(wat);
writeFileSync(new URL('../src/common/md5-kernel.wat', import.meta.url), `${wat}\n`);
writeFileSync(new URL('../src/common/md5-kernel.wasm', import.meta.url), wasm);
console.log(`md5-kernel.wasm: ${wasm.length} bytes`);
