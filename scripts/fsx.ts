// fsx: random file operations on one file in DIR, checked byte for byte against a model.
//   node scripts/fsx.ts --dir DIR [--seed N] [--ops N] [--max-size BYTES] [--big-offsets]
// The seed is printed first; the same command with that --seed replays the run exactly.
// Exit 0 when every operation matched (the file is removed), 1 on a mismatch (the file is
// kept for inspection), 2 on a usage error.
import { randomInt } from 'node:crypto';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { DEFAULT_MAX_FILE_SIZE_BYTES, FsxMismatchError, runFsx } from '../test/fuse/fsx/checker.ts';

const USAGE =
  'usage: node scripts/fsx.ts --dir DIR [--seed N] [--ops N] [--max-size BYTES] [--big-offsets]';

function integer(text: string | undefined, name: string, fallback: number): number {
  if (text === undefined) return fallback;
  const value = Number(text);
  if (!Number.isSafeInteger(value) || value < 0) {
    console.error(`${name} must be a non-negative integer, got ${text}\n${USAGE}`);
    process.exit(2);
  }
  return value;
}

const { values } = parseArgs({
  options: {
    dir: { type: 'string' },
    seed: { type: 'string' },
    ops: { type: 'string' },
    'max-size': { type: 'string' },
    'big-offsets': { type: 'boolean', default: false },
  },
});
if (values.dir === undefined) {
  console.error(USAGE);
  process.exit(2);
}
const seed = integer(values.seed, '--seed', randomInt(0, 2 ** 32 - 1));
if (seed > 0xffffffff) {
  console.error(`--seed must be below 2^32, got ${seed}`);
  process.exit(2);
}
const ops = integer(values.ops, '--ops', 100_000);
const maxFileSize = integer(values['max-size'], '--max-size', DEFAULT_MAX_FILE_SIZE_BYTES);
const bigOffsets = values['big-offsets'];
const path = join(values.dir, `fsx-${seed}.bin`);
const flags = `--seed ${seed} --ops ${ops} --max-size ${maxFileSize}${bigOffsets ? ' --big-offsets' : ''}`;
console.log(`fsx: seed ${seed}, file ${path}`);
console.log(`fsx: reproduce with: node scripts/fsx.ts --dir ${values.dir} ${flags}`);

try {
  const result = await runFsx({ path, seed, ops, maxFileSize, bigOffsets, log: console.log });
  const seconds = result.elapsedMs / 1000;
  const rate = Math.round(result.ops / Math.max(seconds, 1e-3));
  console.log(`fsx: ${result.ops} ops passed in ${seconds.toFixed(1)} s (${rate} ops/s)`);
  console.log(`fsx: ops by kind ${JSON.stringify(result.counts)}`);
  rmSync(path, { force: true });
} catch (error) {
  if (!(error instanceof FsxMismatchError)) throw error;
  console.error(error.message);
  console.error(`fsx: FAILED; file kept at ${path}`);
  process.exit(1);
}
