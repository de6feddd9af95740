// Compiles native/fuse-fd-helper.c, the descriptor-passing helper strata-mount needs to mount
// without root (through fusermount3). Runs on `npm ci` (postinstall) and as
//   npm run build:fuse-helper
// It never fails the install: without a C compiler, or if compiling fails, it says so and exits
// 0; only non-root mounting needs the helper.
import { spawnSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../', import.meta.url));
const source = 'native/fuse-fd-helper.c';
const output = 'native/build/fuse-fd-helper';
const compiler = process.env.CC || 'cc';

if (process.platform !== 'linux') {
  console.log(
    `build-fuse-helper: skipped (FUSE mounting is Linux-only; this is ${process.platform})`,
  );
  process.exit(0);
}
if (spawnSync(compiler, ['--version'], { stdio: 'ignore' }).error) {
  console.log(
    `build-fuse-helper: skipped, no C compiler (${compiler}); strata-mount will work as root ` +
      'only. Install one (e.g. apt-get install gcc) and run `npm run build:fuse-helper`.',
  );
  process.exit(0);
}
mkdirSync(new URL('../native/build/', import.meta.url), { recursive: true });
const result = spawnSync(compiler, ['-O2', '-Wall', '-o', output, source], {
  cwd: root,
  stdio: 'inherit',
});
if (result.status !== 0) {
  console.log(`build-fuse-helper: ${compiler} failed; strata-mount will work as root only`);
  process.exit(0);
}
console.log(`build-fuse-helper: built ${output}`);
